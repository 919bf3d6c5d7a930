/** A few DOM helpers: the dashboard has no framework. */

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | null | undefined | ((event: never) => void)>;

/**
 * Creates an element: `on*` attributes become listeners, `class` sets the class name,
 * `true` adds an empty attribute, `false`/`null`/`undefined` are skipped.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2).toLowerCase(), value as EventListener);
    else if (name === 'class') element.className = String(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, ...children);
  return element;
}

/** Appends children, skipping empty ones. */
export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces all children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** Sets text only when it changed (keeps selection and avoids layout work). */
export function setText(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

/** A card: a titled panel. */
export function card(title: string | Node, body: Child | Child[], options: { class?: string; actions?: Child[]; id?: string } = {}): HTMLElement {
  return h(
    'section',
    { class: `card ${options.class ?? ''}`.trim(), id: options.id },
    h('header', { class: 'card-head' }, h('h2', {}, title), options.actions?.length ? h('div', { class: 'card-actions' }, ...options.actions) : null),
    ...(Array.isArray(body) ? body : [body]),
  );
}
