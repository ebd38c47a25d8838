// The few DOM helpers the page's modules share.

/** The element of this id; a page without it is a broken build, so this throws. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

/** A new element with attributes and children (strings become text, never HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** Shows a number: its text formatted, its exact value in data-value (what a reader or a test compares). */
export function showNumber(node: HTMLElement, value: number | null | undefined, text: string): void {
  node.dataset.value = value === null || value === undefined ? "" : String(value);
  if (node.textContent !== text) node.textContent = text;
}
