// The guests to boot, as a list of cards (one per guest) rather than a table: a card's fields wrap
// to the width there is, so the form fits a phone as well as a wide screen.
import { DEFAULT_LAYOUT_NAME, OP_LAYOUTS } from "../../hypercall-abi/op-layouts.js";
import { el } from "./dom.js";
import type { GuestConfig } from "./page-machine.js";

/** What an image is and what its arguments mean (none for an image dropped on the page). */
export interface ImageAbout {
  about: string;
  args: { name: string; meaning: string }[];
}

export interface GuestFormHooks {
  /** Every image the form may offer, by name. */
  imageNames(): string[];
  describe(image: string): ImageAbout | undefined;
  /** A line for the status bar (a restore file was chosen). */
  status(text: string): void;
}

/** One labelled field of a card: the visible label, then the control. */
function field(label: string, control: HTMLElement, wide = false): HTMLLabelElement {
  return el("label", { className: wide ? "field wide" : "field" }, el("span", {}, label), control);
}

/** The image's description, and each argument given (or not) with its meaning. */
function explain(box: HTMLElement, about: ImageAbout | undefined, args: string[]): void {
  if (!about) {
    box.replaceChildren(el("p", {}, "An image added to the page: its arguments are its own."));
    return;
  }
  const items = about.args.map((a, i) => el("li", {}, el("code", {}, args[i] ?? "(default)"), ` ${a.name}: ${a.meaning}`));
  const extra = args.slice(about.args.length).map((v) => el("li", {}, el("code", {}, v), " (not an argument this guest reads)"));
  box.replaceChildren(
    el("p", {}, about.about),
    ...(items.length + extra.length > 0 ? [el("ol", { className: "args" }, ...items, ...extra)] : [el("p", {}, "It takes no arguments.")]),
  );
}

/** Draws `guests` into `box`, one card each; edits write straight into the configs. */
export function renderGuestForm(box: HTMLElement, guests: GuestConfig[], hooks: GuestFormHooks): void {
  const redraw = () => renderGuestForm(box, guests, hooks);
  box.replaceChildren(
    ...guests.map((g, i) => {
      const n = i + 1;
      const image = el("select", { ariaLabel: `guest ${n} image` });
      for (const name of hooks.imageNames()) image.append(el("option", { value: name, selected: name === g.image }, name));
      const about = el("div", { className: "about" });
      const explainNow = () => explain(about, hooks.describe(g.image), g.args);
      explainNow();
      image.onchange = () => {
        g.image = image.value;
        explainNow();
      };
      const text = (label: string, value: string, set: (v: string) => void, type = "text") => {
        const inp = el("input", { type, value, ariaLabel: `guest ${n} ${label}` });
        inp.onchange = () => set(inp.value);
        return inp;
      };
      const compress = el("input", { type: "checkbox", checked: g.compress, ariaLabel: `guest ${n} compress` });
      compress.onchange = () => {
        g.compress = compress.checked;
      };
      const layout = el("select", { ariaLabel: `guest ${n} layout` });
      for (const name of OP_LAYOUTS.keys())
        layout.append(el("option", { value: name, selected: name === (g.layout || DEFAULT_LAYOUT_NAME) }, name));
      layout.onchange = () => {
        g.layout = layout.value;
      };
      const restore = el("input", { type: "file", accept: ".tmsv", ariaLabel: `guest ${n} save file to restore` });
      restore.onchange = async () => {
        const f = restore.files?.[0];
        g.restore = f ? { name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) } : undefined;
        if (f) hooks.status(`${f.name} will be restored into ${g.name} when it boots`);
      };
      const remove = el("button", { type: "button", textContent: "Remove", ariaLabel: `remove guest ${n}` });
      remove.onclick = () => {
        guests.splice(i, 1);
        redraw();
      };
      const card = el(
        "fieldset",
        { className: "guest" },
        el("legend", {}, `Guest ${n}`),
        el(
          "div",
          { className: "fields" },
          field("image", image),
          field(
            "name",
            text("name", g.name, (v) => (g.name = v)),
          ),
          field(
            "RAM MiB",
            text("RAM MiB", String(g.ramMiB), (v) => (g.ramMiB = Number(v)), "number"),
          ),
          field(
            "weight",
            text("weight", String(g.weight), (v) => (g.weight = Number(v)), "number"),
          ),
          field(
            "cap MiB",
            text("cap MiB", g.capMiB === null ? "" : String(g.capMiB), (v) => (g.capMiB = v.trim() === "" ? null : Number(v)), "number"),
          ),
          field("compress", compress),
          field("struct layout", layout),
          field(
            "arguments",
            text("arguments", g.args.join(" "), (v) => {
              g.args = v.split(/\s+/).filter(Boolean);
              explainNow();
            }),
            true,
          ),
          field("restore a .tmsv", restore, true),
          remove,
        ),
        about,
      );
      card.dataset.guest = String(n);
      return card;
    }),
  );
}
