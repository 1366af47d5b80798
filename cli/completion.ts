// `tmemvm completion bash|zsh`: a completion script made from the command definitions themselves,
// so a new option completes the day it is added. Values come from what the CLI accepts: layout
// names, fuzz targets, bundled image names; paths complete as files or directories.
import type { Command, Option } from "commander";

export const COMPLETION_SHELLS = ["bash", "zsh"] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

/** What an option's value completes to: one of these words, a file, a directory, or nothing (a number). */
export type ValueCompletion = readonly string[] | "file" | "dir" | null;

export interface CompletionValues {
  /** By long flag, for options that take a value; a flag not named here completes nothing. */
  readonly options: Readonly<Record<string, ValueCompletion>>;
  /** Words a command's positional arguments complete to besides files (run: the bundled images). */
  readonly positional: Readonly<Record<string, readonly string[]>>;
}

interface FlagInfo {
  flag: string;
  about: string;
  takesValue: boolean;
  value: ValueCompletion;
}

interface CommandInfo {
  name: string;
  about: string;
  flags: FlagInfo[];
  /** Whether it takes positional arguments (then files, and any words of `positional`, complete). */
  positional: boolean;
  words: readonly string[];
}

function flagsOf(options: readonly Option[], values: CompletionValues): FlagInfo[] {
  return options
    .filter((o) => o.long !== undefined && !o.hidden)
    .map((o) => {
      const takesValue = o.required || o.optional;
      return { flag: o.long!, about: o.description, takesValue, value: takesValue ? (values.options[o.long!] ?? null) : null };
    });
}

function commandsOf(program: Command, values: CompletionValues): CommandInfo[] {
  return program.commands
    .filter((c) => c.name() !== "help")
    .map((c) => ({
      name: c.name(),
      about: c.description(),
      flags: [...flagsOf(c.options, values), { flag: "--help", about: "display help for command", takesValue: false, value: null }],
      positional: c.registeredArguments.length > 0,
      words: values.positional[c.name()] ?? [],
    }));
}

/** Single-quoted for a shell: nothing inside is expanded. */
const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function bashScript(commands: CommandInfo[]): string {
  const valueCases: string[] = [];
  for (const c of commands) {
    for (const f of c.flags) {
      if (!f.takesValue) continue;
      const reply =
        f.value === "file"
          ? 'compgen -f -- "$cur"'
          : f.value === "dir"
            ? 'compgen -d -- "$cur"'
            : f.value === null
              ? "" // a number: nothing to offer
              : `compgen -W ${quote(f.value.join(" "))} -- "$cur"`;
      valueCases.push(`    ${c.name}:${f.flag}) ${reply ? `COMPREPLY=($(${reply}))` : "COMPREPLY=()"}; return ;;`);
    }
  }
  const flagCases = commands.map(
    (c) =>
      `    ${c.name}) flags=${quote(c.flags.map((f) => f.flag).join(" "))}; words=${quote(c.words.join(" "))}; positional=${c.positional ? 1 : 0} ;;`,
  );
  return `# bash completion for tmemvm. Load it with: source <(tmemvm completion bash)
_tmemvm() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  if (( COMP_CWORD == 1 )); then
    COMPREPLY=($(compgen -W ${quote([...commands.map((c) => c.name), "help", "--help", "--version"].join(" "))} -- "$cur"))
    return
  fi
  local cmd=\${COMP_WORDS[1]} i
  # Past a lone --, every word is the guests'.
  for (( i = 2; i < COMP_CWORD; i++ )); do [[ \${COMP_WORDS[i]} == -- ]] && return; done
  case "$cmd:$prev" in
${valueCases.join("\n")}
  esac
  local flags= words= positional=0
  case "$cmd" in
${flagCases.join("\n")}
    help) COMPREPLY=($(compgen -W ${quote(commands.map((c) => c.name).join(" "))} -- "$cur")); return ;;
    *) return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif (( positional )); then
    COMPREPLY=($(compgen -W "$words" -- "$cur") $(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _tmemvm tmemvm
`;
}

/** zsh's _arguments spec of a flag: --flag[about]:what:action. */
function zshFlag(f: FlagInfo): string {
  const about = f.about
    .replace(/[[\]:\\]/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  if (!f.takesValue) return quote(`${f.flag}[${about}]`);
  const action = f.value === "file" ? "_files" : f.value === "dir" ? "_files -/" : f.value === null ? " " : `(${f.value.join(" ")})`;
  return quote(`${f.flag}[${about}]:value:${action}`);
}

function zshScript(commands: CommandInfo[]): string {
  const described = commands.map((c) => `    ${quote(`${c.name}:${c.about.replace(/:/g, " ")}`)}`);
  const cases = commands.map((c) => {
    const rest = c.positional ? [quote(`*:argument:{_files${c.words.length ? `; compadd -- ${c.words.join(" ")}` : ""}}`)] : [];
    return `    ${c.name}) _arguments -s \\\n        ${[...c.flags.map(zshFlag), ...rest].join(" \\\n        ")} ;;`;
  });
  return `#compdef tmemvm
# zsh completion for tmemvm. Load it with: source <(tmemvm completion zsh)
# (or save it as _tmemvm in a directory on $fpath).
_tmemvm() {
  local -a commands
  commands=(
${described.join("\n")}
  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'tmemvm command' commands
    return
  fi
  local cmd=$words[2]
  shift words
  (( CURRENT-- ))
  case $cmd in
${cases.join("\n")}
    help) _describe -t commands 'tmemvm command' commands ;;
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _tmemvm "$@"
else
  compdef _tmemvm tmemvm
fi
`;
}

/** The completion script for `shell`, from `program`'s commands and options. */
export function completionScript(shell: CompletionShell, program: Command, values: CompletionValues): string {
  const commands = commandsOf(program, values);
  return shell === "bash" ? bashScript(commands) : zshScript(commands);
}
