// The page's two DOM helpers: find an element by id, and make one with its properties and children.

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...kids: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e: HTMLElementTagNameMap[K] = document.createElement(tag);
  Object.assign(e, props);
  e.append(...kids);
  return e;
}

/**
 * Gives each body cell of `table` its column's name (data-label), for the narrow layout that
 * shows each row as a card; a cell spanning columns is a row label and gets none.
 */
export function labelCells(table: HTMLTableElement): void {
  const names = Array.from(table.tHead?.rows[0]?.cells ?? [], (c) => c.textContent ?? "");
  for (const body of Array.from(table.tBodies)) {
    for (const row of Array.from(body.rows)) {
      let col = 0;
      for (const cell of Array.from(row.cells)) {
        if (cell.colSpan === 1 && names[col]) cell.dataset.label = names[col];
        col += cell.colSpan;
      }
    }
  }
}

/** `text` with a line-break opportunity after each underscore (TMEM_GET_PAGE wraps in a narrow cell). */
export function breakable(text: string): DocumentFragment {
  const f = document.createDocumentFragment();
  text.split(/(?<=_)/).forEach((part, i) => {
    if (i > 0) f.append(document.createElement("wbr"));
    f.append(part);
  });
  return f;
}

/**
 * Makes `into`'s children those of `from` (built afresh, outside the document), keeping `into`'s
 * own nodes wherever the two have the same shape (the same tag, as many children) and writing only
 * the text and attributes that differ: a view redrawn several times a second then costs the page
 * the layout of new text, not the style and layout of new elements.
 */
export function patchChildren(into: Element, from: Element): void {
  const have = Array.from(into.childNodes);
  const want = Array.from(from.childNodes);
  if (have.length !== want.length) {
    into.replaceChildren(...want);
    return;
  }
  want.forEach((w, i) => {
    const h = have[i];
    if (h.nodeType === Node.TEXT_NODE && w.nodeType === Node.TEXT_NODE) {
      if (h.nodeValue !== w.nodeValue) h.nodeValue = w.nodeValue;
    } else if (h instanceof Element && w instanceof Element && h.tagName === w.tagName) {
      for (const a of Array.from(w.attributes)) if (h.getAttribute(a.name) !== a.value) h.setAttribute(a.name, a.value);
      for (const a of Array.from(h.attributes)) if (!w.hasAttribute(a.name)) h.removeAttribute(a.name);
      patchChildren(h, w);
    } else into.replaceChild(w, h);
  });
}
