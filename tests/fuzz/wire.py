"""Hand-built protobuf wire bytes, for requests the Python protobuf library refuses to build."""

from __future__ import annotations


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32/int64 go on the wire as ten-byte two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def nested_struct(depth: int) -> bytes:
    """A google.protobuf.Struct {"a": {"a": ... {}}} nested `depth` objects deep."""
    body = b""
    for _ in range(depth):
        value = field(5, body)  # Value.struct_value
        body = field(1, field(1, b"a") + field(2, value))  # Struct.fields map entry
    return body


def nested_list(depth: int) -> bytes:
    """A Struct {"l": [[[...]]]} with lists nested `depth` deep."""
    value = b""
    for _ in range(depth):
        value = field(6, field(1, value))  # Value.list_value -> ListValue.values
    return field(1, field(1, b"l") + field(2, value))


def enqueue_with_data(task_data: bytes, task_type: str = "echo") -> bytes:
    """EnqueueRequest bytes: task_type = 1, task_data = 2."""
    return field(1, task_type.encode()) + field(2, task_data)
