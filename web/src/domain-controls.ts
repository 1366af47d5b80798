// Each domain's live policy (weight, cap, compression, freeze) and its Save button, with the
// outcome of each change written under the row that made it: the status line at the top of the
// page is out of sight when the table is scrolled to. Each change is a request to the machine
// worker, which applies it between two bursts and says whether tmem took it.
import { el, labelCells } from "./dom.js";
import type { RemoteMachine } from "./remote-machine.js";
import type { PolicyChange } from "./page-machine.js";

export interface DomainControlHooks {
  /** The same line for the status bar. */
  status(text: string, error: boolean): void;
  download(bytes: Uint8Array, name: string): void;
}

const COLUMNS = ["domid", "name", "state", "hypercalls", "weight", "cap MiB", "compress", "frozen", "save"];

/** The domains' controls, built once per boot so that editing a field is not interrupted. */
export function renderDomainControls(t: HTMLTableElement, m: RemoteMachine, hooks: DomainControlHooks): void {
  const rows = m.domains.flatMap((d) => {
    /** Its policy as of the last update (none once its tmem client is gone). */
    const client = () => m.listing().domains.find((x) => x.domid === d.domid);
    const feedback = el("output", { className: "feedback" });
    feedback.setAttribute("role", "status");
    const say = (text: string, error: boolean) => {
      feedback.textContent = text;
      feedback.classList.toggle("error", error);
      hooks.status(text, error);
    };
    const weight = el("input", { type: "number", min: "0", value: String(client()?.weight ?? 0), ariaLabel: `${d.name} weight` });
    const cap = el("input", { type: "number", min: "0", placeholder: "none", ariaLabel: `${d.name} cap in MiB` });
    const compress = el("input", { type: "checkbox", ariaLabel: `${d.name} compress` });
    const freeze = el("button", { type: "button", ariaLabel: `freeze or thaw ${d.name}` });
    /** The fields as tmem has them: after a refused change, a field does not keep what tmem refused. */
    const sync = (c = client()) => {
      if (!c) return;
      weight.value = String(c.weight);
      cap.value = c.capPages === null ? "" : String(c.capPages / 256);
      compress.checked = c.compress;
      freeze.textContent = c.frozen ? "Thaw" : "Freeze";
    };
    sync();
    const policy = async (what: string, change: PolicyChange) => {
      try {
        const now = await m.policy(d.domid, change);
        say(`${what} ${d.name}`, false);
        sync(now ?? undefined);
      } catch (e) {
        say(`${what} ${d.name} refused: ${(e as Error).message}`, true);
        sync();
      }
      // What the change did to tmem's numbers comes with the worker's next update, drawn after this answer.
    };
    weight.onchange = () => policy(`weight ${weight.value} for`, { weight: Number(weight.value) });
    cap.onchange = () => policy(`cap ${cap.value || "none"} for`, { capMiB: cap.value.trim() === "" ? null : Number(cap.value) });
    compress.onchange = () => policy(`compression ${compress.checked ? "on" : "off"} for`, { compress: compress.checked });
    freeze.onclick = () => {
      // What the button offers is what tmem said last (the listing may be an update behind).
      const frozen = freeze.textContent === "Thaw";
      void policy(frozen ? "thawed" : "froze", { frozen: !frozen });
    };
    const save = el("button", { type: "button", textContent: "Save .tmsv", ariaLabel: `save ${d.name}'s tmem` });
    save.onclick = async () => {
      // An ended domain's persistent pages stay in tmem, to be saved (preswap's "store" leaves them for that).
      try {
        const r = await m.save(d.domid, `${d.name}.tmsv`);
        if (r.pages === 0) say(`nothing saved: ${d.name} holds no persistent pages`, true);
        else {
          hooks.download(r.file, `${d.name}.tmsv`);
          say(`saved ${r.pages} persistent pages of ${d.name} in ${r.pools} pool(s) as ${d.name}.tmsv`, false);
        }
      } catch (e) {
        say(`saving ${d.name} refused: ${(e as Error).message}`, true);
      }
    };
    const row = el(
      "tr",
      {},
      el("td", {}, String(d.domid)),
      el("td", { className: "l" }, d.name),
      el("td", { className: "state l" }),
      el("td", { className: "hc" }),
      ...[weight, cap, compress, freeze, save].map((x) => el("td", {}, x)),
    );
    row.dataset.domid = String(d.domid);
    const under = el("tr", { className: "feedback-row" }, el("td", { className: "l", colSpan: COLUMNS.length }, feedback));
    under.dataset.feedbackFor = String(d.domid);
    return [row, under];
  });
  t.replaceChildren(el("thead", {}, el("tr", {}, ...COLUMNS.map((c) => el("th", {}, c)))), el("tbody", {}, ...rows));
  labelCells(t);
}

/** The numbers that change as guests run: each domain's state and hypercalls. */
export function renderDomainNumbers(t: HTMLTableElement, m: RemoteMachine): void {
  for (const d of m.domains) {
    const r = t.querySelector(`tr[data-domid="${d.domid}"]`);
    if (!r) continue;
    r.querySelector(".state")!.textContent = d.state === "exited" ? `exited ${d.exitCode}` : d.crash ? `${d.state}: ${d.crash}` : d.state;
    r.querySelector(".hc")!.textContent = String(d.hypercalls);
  }
}
