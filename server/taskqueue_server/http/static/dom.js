// Small DOM helpers: elements from (tag, attributes, children), times, sparklines.

const SVG = "http://www.w3.org/2000/svg";

// Children are nodes or strings (set as text, never parsed as HTML); "" and null are skipped.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === true) element.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(name, value);
    }
  }
  if (tag === "input" && "value" in attributes) element.value = attributes.value;
  element.append(...children.filter((child) => child !== "" && child !== null));
  return element;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "-";
}

// Throughput over the last minute as a line; the scale is the window's own peak.
export function sparkline(rates, width = 90, height = 18) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("aria-label", "throughput, last minute");
  const peak = Math.max(1, ...rates);
  const step = width / Math.max(1, rates.length - 1);
  const points = rates.map((rate, i) =>
    `${(i * step).toFixed(1)},${(height - 1 - (rate / peak) * (height - 2)).toFixed(1)}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.join(" "));
  svg.append(line);
  return svg;
}
