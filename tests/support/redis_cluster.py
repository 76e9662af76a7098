"""Real local Redis topologies the suite starts itself: a Cluster and a Sentinel group.

`LocalCluster`: 3 primaries + 3 replicas (`redis-server --cluster-enabled yes`, joined by
`redis-cli --cluster create --cluster-replicas 1`). `LocalSentinel`: 1 primary, 1 replica,
3 sentinels. Every process listens on a free loopback port, keeps nothing on disk (no RDB, no
AOF), runs in its own process group and is killed, with its temp dir, by `close()`.
The drills SIGKILL nodes through `kill(port)`; nothing here touches the shared Redis.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

# A cluster node also listens on port + 10000 (the cluster bus): both must be free.
_BUS_OFFSET = 10000


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int, with_bus: bool = False) -> list[int]:
    """`count` distinct free loopback ports (each with its bus port free, if asked)."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20000, 45000)
        if port in ports or not _bindable(port):
            continue
        if with_bus and not _bindable(port + _BUS_OFFSET):
            continue
        ports.append(port)
    return ports


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


def _answers(port: int) -> bool:
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
        return False
    finally:
        client.close()


class _Processes:
    """redis-server / sentinel processes by port, each in its own process group."""

    def __init__(self, label: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"tq-{label}-"))
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(self, port: int, *extra: str, sentinel: bool = False) -> None:
        node_dir = self.dir / str(port)
        node_dir.mkdir(exist_ok=True)  # a restarted node finds its nodes.conf again
        args = [shutil.which("redis-server") or "redis-server"]
        if sentinel:
            conf = node_dir / "sentinel.conf"
            conf.write_text("".join(f"{line}\n" for line in extra))
            args += [str(conf), "--sentinel"]
            extra = ()
        args += [
            "--bind", "127.0.0.1", "--port", str(port), "--dir", str(node_dir),
            "--logfile", str(node_dir / "redis.log"), "--protected-mode", "no",
        ]  # fmt: skip
        if not sentinel:
            args += ["--save", "", "--appendonly", "no"]
        self.processes[port] = subprocess.Popen(
            [*args, *extra], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def wait_answering(self, ports: list[int], timeout: float = 15.0) -> None:
        for port in ports:
            process = self.processes[port]

            def up(process: subprocess.Popen[bytes] = process, port: int = port) -> bool:
                return process.poll() is not None or _answers(port)

            wait_for(up, timeout, f"{port} answers")
            if process.poll() is not None:
                log = (self.dir / str(port) / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis on {port} exited {process.returncode}:\n{log[-2000:]}")

    def kill(self, port: int, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(port, None)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(15)

    def close(self) -> None:
        try:
            for port in list(self.processes):
                self.kill(port)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class LocalCluster:
    """3 primaries + 3 replicas on loopback; `.url` is the redis+cluster:// form."""

    def __init__(self, primaries: int = 3, replicas: int = 1) -> None:
        self.ports = free_ports(primaries * (1 + replicas), with_bus=True)
        self.replicas = replicas
        self.nodes = _Processes("cluster")

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:3])

    def start(self) -> None:
        for port in self.ports:
            self.nodes.spawn(
                port,
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                # Short enough for a drill: a dead primary is replaced within seconds.
                "--cluster-node-timeout", "1000",
                "--cluster-replica-validity-factor", "0",
                # A shard without a primary stops only its own slots (docs/operations.md).
                "--cluster-require-full-coverage", "no",
            )  # fmt: skip
        self.nodes.wait_answering(self.ports)
        subprocess.run(
            [shutil.which("redis-cli") or "redis-cli", "--cluster", "create",
             *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        wait_for(self.healthy, 30, "cluster_state:ok on every node")
        # A replica still syncing acknowledges no WAIT: tests of --redis-wait-replicas that
        # run first would see 0 replicas.
        wait_for(self.replicas_linked, 30, "every replica linked to its primary")

    def replicas_linked(self) -> bool:
        for port in self.nodes.processes:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
            try:
                info = client.info("replication")
            except redis.RedisError:
                return False
            finally:
                client.close()
            if info.get("role") == "slave" and info.get("master_link_status") != "up":
                return False
        return True

    def healthy(self) -> bool:
        """Every live node says cluster_state:ok (every slot has an answering primary)."""
        return all(self._info(port).get("cluster_state") == "ok" for port in self.nodes.processes)

    def _info(self, port: int) -> dict[str, str]:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, decode_responses=True)
        try:
            raw = client.execute_command("CLUSTER", "INFO")
        except redis.RedisError:
            return {}
        finally:
            client.close()
        if isinstance(raw, dict):
            return {str(k): str(v) for k, v in raw.items()}
        return dict(line.split(":", 1) for line in str(raw).splitlines() if ":" in line)

    def primary_of(self, key: str) -> int:
        """The port of the primary currently owning `key`'s slot."""
        for port in self.nodes.processes:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
            try:
                slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
                for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                    if int(start) <= slot <= int(end):
                        return int(primary[1])
            except redis.RedisError:
                continue
            finally:
                client.close()
        raise RuntimeError(f"no live node knows the owner of {key!r}")

    def restart(self, port: int) -> None:
        """Start a killed node again: it rejoins, as a replica if it lost its primaryship."""
        self.nodes.spawn(
            port,
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no",
        )  # fmt: skip
        self.nodes.wait_answering([port])

    def replica_of(self, port: int) -> int | None:
        """The port of the primary the node on `port` replicates, None for a primary."""
        client = redis.Redis(port=port, socket_timeout=2, decode_responses=True)
        try:
            lines = str(client.execute_command("CLUSTER", "NODES")).splitlines()
        finally:
            client.close()
        nodes = {f[0]: f for f in (line.split() for line in lines)}
        me = next(f for f in nodes.values() if "myself" in f[2])
        return None if me[3] == "-" else int(nodes[me[3]][1].split("@")[0].rsplit(":", 1)[1])

    def kill(self, port: int) -> None:
        self.nodes.kill(port)

    def close(self) -> None:
        self.nodes.close()


class LocalSentinel:
    """1 primary, 1 replica, 3 sentinels watching master `name`; `.url` is redis+sentinel://."""

    def __init__(self, name: str = "tqmaster") -> None:
        self.name = name
        self.primary, self.replica, *self.sentinels = free_ports(5)
        self.nodes = _Processes("sentinel")

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.name}"

    def start(self) -> None:
        self.nodes.spawn(self.primary)
        self.nodes.spawn(self.replica, "--replicaof", "127.0.0.1", str(self.primary))
        self.nodes.wait_answering([self.primary, self.replica])
        for port in self.sentinels:
            self.nodes.spawn(
                port,
                f"sentinel monitor {self.name} 127.0.0.1 {self.primary} 2",
                # Failover within a couple of seconds of the primary dying.
                f"sentinel down-after-milliseconds {self.name} 1000",
                f"sentinel failover-timeout {self.name} 5000",
                sentinel=True,
            )
        self.nodes.wait_answering(self.sentinels)
        wait_for(self._watched, 30, "replica in sync and every sentinel sees the others")

    def _watched(self) -> bool:
        replica = redis.Redis(host="127.0.0.1", port=self.replica, decode_responses=True)
        try:
            if replica.info("replication").get("master_link_status") != "up":
                return False
        finally:
            replica.close()
        for port in self.sentinels:
            sentinel = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
            try:
                state = sentinel.execute_command("SENTINEL", "MASTER", self.name)
            except redis.RedisError:
                return False
            finally:
                sentinel.close()
            fields = dict(zip(state[::2], state[1::2], strict=True))
            if int(fields["num-other-sentinels"]) < 2 or int(fields["num-slaves"]) < 1:
                return False
        return True

    def current_primary(self) -> int:
        """The primary's port as the sentinels now report it."""
        sentinel = redis.Redis(host="127.0.0.1", port=self.sentinels[0], decode_responses=True)
        try:
            _host, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
        finally:
            sentinel.close()
        return int(port)

    def kill(self, port: int) -> None:
        self.nodes.kill(port)

    def close(self) -> None:
        self.nodes.close()
