// Preview-time check of fail2ban regular expressions without Python.
//
// fail2ban 1.0.2 first replaces its tags (<HOST>, <F-USER>...</F-USER>, ...) with Python
// regex text and then compiles the result with Python's `re` (server/failregex.py). A regex
// that does not compile stops the whole fail2ban server at the next reload, so we check it at
// `pulumi preview`: resolve the tags the same way, parse the Python syntax, reject what Python
// rejects, translate Python-only syntax to JavaScript and compile that as a last net.
// The translation is for compiling only: a few constructs (scoped flags, atomic groups,
// possessive quantifiers, conditionals) are kept syntactically, not semantically.

export type RegexCheck = { ok: true; groups: string[]; js: RegExp } | { ok: false; error: string };

/** Groups whose presence lets fail2ban take a failure id from a match (failregex.py). */
export const FAILURE_ID_GROUPS = ["fid", "ip4", "ip6", "dns", "mlfid"] as const;

// Python-syntax replacements of fail2ban's address tags, equivalent in group names and shape.
const IP4 = String.raw`(?:\d{1,3}\.){3}\d{1,3}`;
const IP6 = String.raw`(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)`;
const SEP_IP4 = String.raw`(?:::f{4,6}:)?(?P<ip4>${IP4})`;
const SEP_IP6 = String.raw`(?P<ip6>${IP6})`;
const DNS = String.raw`(?P<dns>[\w\-.^_]*\w)`;
const ADDR = String.raw`\[?(?:${SEP_IP4}|${SEP_IP6})\]?`;
const CIDR = String.raw`(?P<cidr>\d+)`;
const STATIC_TAGS: Record<string, string> = {
  HOST: String.raw`(?:${ADDR}|${DNS})`,
  IP4: SEP_IP4,
  "F-IP4/": SEP_IP4,
  IP6: SEP_IP6,
  "F-IP6/": SEP_IP6,
  ADDR,
  "F-ADDR/": ADDR,
  CIDR,
  "F-CIDR/": CIDR,
  SUBNET: String.raw`\[?(?:${SEP_IP4}|${SEP_IP6})(?:/${CIDR})?\]?`,
  "F-SUBNET/": String.raw`\[?(?:${SEP_IP4}|${SEP_IP6})(?:/${CIDR})?\]?`,
  DNS,
  "F-DNS/": DNS,
  "F-ID/": String.raw`(?P<fid>\S+)`,
  "F-PORT/": String.raw`(?P<fport>\w+)`,
};
const TAG_MAP: Record<string, string> = { id: "fid", port: "fport" };

/** Replaces fail2ban tags exactly where failregex.py's _resolveHostTag would. */
export function resolveFail2banTags(regex: string): string {
  const open = new Set<string>();
  let skiplines = 0;
  return regex.replace(/<\/?[\w-]+\/?>/g, (tag) => {
    const name = tag.slice(1, -1);
    if (name === "SKIPLINES") return String.raw`\n(?P<skiplines${skiplines++}>(?:(?:.*\n)*?))`;
    const fixed = STATIC_TAGS[name];
    if (fixed !== undefined) return fixed;
    const custom = /^(\/?)F-([A-Z0-9_-]+)$/.exec(name);
    if (!custom) return tag;
    const [, closing, id] = custom as unknown as [string, string, string];
    if (closing) return open.has(id) ? ")" : tag;
    open.add(id);
    const lower = id.toLowerCase();
    return `(?P<${TAG_MAP[lower] ?? lower}>`;
  });
}

class PyRegexError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} at position ${position}`);
  }
}

/** An emitted piece of JavaScript with the width Python's look-behind check would compute. */
interface Piece {
  js: string;
  /** Fixed width in characters; null when variable. */
  width: number | null;
  /** Python refuses to repeat anchors and comments ("nothing to repeat"). */
  repeatable: boolean;
  /** JavaScript cannot repeat a look-behind directly; wrap it. */
  wrapForRepeat?: boolean;
}

const MAXREPEAT = 4294967295;
const JS_SYNTAX = new Set([..."\\^$.|?*+()[]{}/"]);
const PY_FLAGS = "aiLmsux";

function hex(code: number): string {
  if (code > 0xffff) return hex(0xd800 + ((code - 0x10000) >> 10)) + hex(0xdc00 + ((code - 0x10000) & 0x3ff));
  return `\\u${code.toString(16).padStart(4, "0")}`;
}

function literal(char: string): string {
  return JS_SYNTAX.has(char) || char === "-" ? `\\${char}` : char;
}

class PythonRegexParser {
  private pos = 0;
  private groups = 0;
  private readonly names = new Map<string, number>();
  private readonly openGroups = new Set<number>();
  private readonly forwardRefs: [number, number][] = [];
  private jsFlags = "";

  constructor(private readonly src: string) {}

  parse(): { js: string; flags: string; names: string[] } {
    this.leadingFlags();
    const body = this.alternation();
    if (this.pos < this.src.length) throw new PyRegexError("unbalanced parenthesis", this.pos);
    for (const [group, at] of this.forwardRefs) if (group > this.groups) throw new PyRegexError("invalid group reference " + group, at);
    return { js: body.js, flags: this.jsFlags, names: [...this.names.keys()] };
  }

  private peek(offset = 0): string {
    return this.src[this.pos + offset] ?? "";
  }

  /** Global flags are allowed only at the very start, possibly as several groups: (?i)(?s). */
  private leadingFlags(): void {
    let flags = "";
    for (let match; (match = /^\(\?([a-zA-Z]+)\)/.exec(this.src.slice(this.pos))); this.pos += match[0].length) {
      if (![...match[1]!].every((f) => PY_FLAGS.includes(f))) break;
      flags += match[1]!;
    }
    this.jsFlags = this.flagsToJs(flags, 2);
  }

  private flagsToJs(flags: string, at: number): string {
    if (flags.includes("L")) throw new PyRegexError("bad inline flag: cannot use 'L' flag with a str pattern", at);
    if (flags.includes("a") && flags.includes("u")) throw new PyRegexError("bad inline flag: flags 'a' and 'u' are incompatible", at);
    if (flags.includes("x")) throw new PyRegexError("the verbose flag (?x) is not supported here; write the regex without it", at);
    return [..."ims"].filter((f) => flags.includes(f)).join("");
  }

  private alternation(): Piece {
    const branches = [this.sequence()];
    while (this.peek() === "|") {
      this.pos++;
      branches.push(this.sequence());
    }
    const widths = branches.map((b) => b.width);
    const fixed = widths.every((w) => w !== null && w === widths[0]) ? widths[0]! : null;
    return { js: branches.map((b) => b.js).join("|"), width: fixed, repeatable: true };
  }

  private sequence(): Piece {
    let js = "";
    let width: number | null = 0;
    let last: Piece | null = null;
    const flush = () => {
      if (!last) return;
      js += last.js;
      width = width === null || last.width === null ? null : width + last.width;
      last = null;
    };
    for (;;) {
      const c = this.peek();
      if (c === "" || c === "|" || c === ")") break;
      if ("*+?{".includes(c)) {
        const quantifier = this.quantifier();
        if (quantifier === null) {
          flush();
          last = { js: "\\{", width: 1, repeatable: true };
          this.pos++;
          continue;
        }
        if (!last || !(last as Piece).repeatable) throw new PyRegexError("nothing to repeat", this.pos);
        const atom: Piece = last;
        const atomJs = atom.wrapForRepeat ? `(?:${atom.js})` : atom.js;
        const w = atom.width === 0 ? 0 : atom.width !== null && quantifier.min === quantifier.max ? atom.width * quantifier.min : null;
        last = { js: atomJs + quantifier.js, width: w, repeatable: false };
        if ("*+?{".includes(this.peek())) {
          if (this.quantifierAhead()) throw new PyRegexError("multiple repeat", this.pos);
        }
        continue;
      }
      if (this.src.startsWith("(?#", this.pos)) {
        // A comment is no item: a quantifier after it repeats the item before it.
        const end = this.src.indexOf(")", this.pos);
        if (end < 0) throw new PyRegexError("missing ), unterminated comment", this.pos);
        this.pos = end + 1;
        continue;
      }
      flush();
      last = this.atom();
    }
    flush();
    return { js, width, repeatable: true };
  }

  /** Whether a quantifier starts here (a `{` that is not one is a literal in Python). */
  private quantifierAhead(): boolean {
    const c = this.peek();
    if (c === "{") return /^\{\d*(?:,\d*)?\}/.test(this.src.slice(this.pos)) && !this.src.startsWith("{}", this.pos);
    return c === "*" || c === "+" || c === "?";
  }

  private quantifier(): { js: string; min: number; max: number } | null {
    const start = this.pos;
    let js: string;
    let min: number;
    let max: number;
    const c = this.peek();
    if (c === "{") {
      const m = /^\{(\d*)(?:(,)(\d*))?\}/.exec(this.src.slice(this.pos));
      if (!m || (m[1] === "" && m[2] === undefined)) return null;
      min = m[1] === "" ? 0 : Number(m[1]);
      max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
      if (min >= MAXREPEAT || (max !== Infinity && max >= MAXREPEAT)) throw new PyRegexError("the repetition number is too large", start);
      if (max < min) throw new PyRegexError("min repeat greater than max repeat", start);
      js = `{${min},${max === Infinity ? "" : max}}`;
      if (m[2] === undefined) js = `{${min}}`;
      this.pos += m[0].length;
    } else {
      this.pos++;
      js = c;
      min = c === "+" ? 1 : 0;
      max = c === "?" ? 1 : Infinity;
    }
    // Lazy (`?`) is shared with JavaScript; possessive (`+`, Python 3.11+) has no JS form.
    if (this.peek() === "?") {
      js += "?";
      this.pos++;
    } else if (this.peek() === "+") {
      this.pos++;
    }
    return { js, min, max };
  }

  private atom(): Piece {
    const c = this.peek();
    const at = this.pos;
    this.pos++;
    switch (c) {
      case "^":
      case "$":
        return { js: c, width: 0, repeatable: false };
      case ".":
        return { js: ".", width: 1, repeatable: true };
      case "\\":
        return this.escape(at);
      case "[":
        return this.charClass(at);
      case "(":
        return this.group(at);
      default:
        return { js: literal(c), width: 1, repeatable: true };
    }
  }

  private escape(at: number): Piece {
    const c = this.peek();
    if (c === "") throw new PyRegexError("bad escape (end of pattern)", at);
    this.pos++;
    if (c === "A") return { js: "(?<![\\s\\S])", width: 0, repeatable: false };
    if (c === "Z") return { js: "(?![\\s\\S])", width: 0, repeatable: false };
    if (c === "b" || c === "B") return { js: `\\${c}`, width: 0, repeatable: false };
    if ("dDsSwW".includes(c)) return { js: `\\${c}`, width: 1, repeatable: true };
    if (c >= "1" && c <= "9") return this.numericEscape(c, at);
    const char = this.characterEscape(c, at, false);
    return { js: char.js, width: 1, repeatable: true };
  }

  private numericEscape(first: string, at: number): Piece {
    const second = this.peek();
    const third = this.peek(1);
    const octal = (d: string) => d >= "0" && d <= "7";
    if (octal(first) && octal(second) && octal(third)) {
      this.pos += 2;
      const value = parseInt(first + second + third, 8);
      if (value > 0o377) throw new PyRegexError(`octal escape value \\${first}${second}${third} outside of range 0-0o377`, at);
      return { js: hex(value), width: 1, repeatable: true };
    }
    let digits = first;
    if (second >= "0" && second <= "9") {
      digits += second;
      this.pos++;
    }
    const group = Number(digits);
    if (group > this.groups) throw new PyRegexError(`invalid group reference ${group}`, at + 1);
    if (this.openGroups.has(group)) throw new PyRegexError("cannot refer to an open group", at);
    return { js: `(?:\\${group})`, width: null, repeatable: true };
  }

  /** Escapes that stand for one character, valid both inside and outside a class. */
  private characterEscape(c: string, at: number, inClass: boolean): { js: string; code?: number } {
    const simple: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };
    if (simple[c] !== undefined) return { js: hex(simple[c]!), code: simple[c]! };
    if (inClass && c === "b") return { js: hex(8), code: 8 };
    const lengths: Record<string, number> = { x: 2, u: 4, U: 8 };
    if (lengths[c] !== undefined) {
      const digits = this.src.slice(this.pos, this.pos + lengths[c]!);
      if (!new RegExp(`^[0-9a-fA-F]{${lengths[c]}}$`).test(digits)) throw new PyRegexError(`incomplete escape \\${c}${digits}`, at);
      const code = parseInt(digits, 16);
      if (code > 0x10ffff) throw new PyRegexError(`bad escape \\${c}${digits}`, at);
      this.pos += digits.length;
      return { js: hex(code), code };
    }
    if (c === "0" || (inClass && c >= "1" && c <= "7")) {
      let digits = c;
      while (digits.length < 3 && this.peek() >= "0" && this.peek() <= "7") {
        digits += this.peek();
        this.pos++;
      }
      const code = parseInt(digits, 8);
      if (code > 0o377) throw new PyRegexError(`octal escape value \\${digits} outside of range 0-0o377`, at);
      return { js: hex(code), code };
    }
    if (c === "N") throw new PyRegexError("named character escapes \\N{...} are not supported here; write the character itself", at);
    if (/[A-Za-z0-9]/.test(c)) throw new PyRegexError(`bad escape \\${c}`, at);
    return { js: literal(c), code: c.codePointAt(0)! };
  }

  private charClass(at: number): Piece {
    let js = "[";
    if (this.peek() === "^") {
      js += "^";
      this.pos++;
    }
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === "") throw new PyRegexError("unterminated character set", at);
      if (c === "]" && !first) {
        this.pos++;
        break;
      }
      first = false;
      const start = this.pos;
      const lo = this.classItem();
      if (this.peek() === "-" && this.peek(1) !== "]" && this.peek(1) !== "") {
        this.pos++;
        const hi = this.classItem();
        if (lo.code === undefined || hi.code === undefined) {
          throw new PyRegexError(`bad character range ${this.src.slice(start, this.pos)}`, start);
        }
        if (hi.code < lo.code) throw new PyRegexError(`bad character range ${this.src.slice(start, this.pos)}`, start);
        // Without the u flag JavaScript sees astral characters as two code units and refuses
        // such ranges; any range of surrogates compiles the same.
        js += lo.code > 0xffff || hi.code > 0xffff ? "\\ud800-\\udfff" : `${lo.js}-${hi.js}`;
      } else {
        js += lo.js;
      }
    }
    return { js: js + "]", width: 1, repeatable: true };
  }

  private classItem(): { js: string; code?: number } {
    const at = this.pos;
    const c = String.fromCodePoint(this.src.codePointAt(this.pos)!);
    this.pos += c.length;
    if (c !== "\\") return { js: literal(c), code: c.codePointAt(0)! };
    const e = this.peek();
    if (e === "") throw new PyRegexError("bad escape (end of pattern)", at);
    this.pos++;
    if ("dDsSwW".includes(e)) return { js: `\\${e}` };
    return this.characterEscape(e, at, true);
  }

  private groupName(terminator: string, at: number): string {
    const end = this.src.indexOf(terminator, this.pos);
    if (end < 0) throw new PyRegexError(`missing ${terminator}, unterminated name`, at);
    const name = this.src.slice(this.pos, end);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new PyRegexError(`bad character in group name '${name}'`, this.pos);
    this.pos = end + 1;
    return name;
  }

  private closeGroup(at: number): void {
    if (this.peek() !== ")") throw new PyRegexError("missing ), unterminated subpattern", at);
    this.pos++;
  }

  private group(at: number): Piece {
    if (this.peek() !== "?") return this.capturing(at, "(");
    this.pos++;
    const c = this.peek();
    if (c === "P") {
      this.pos++;
      if (this.peek() === "<") {
        this.pos++;
        const name = this.groupName(">", at);
        if (this.names.has(name)) throw new PyRegexError(`redefinition of group name '${name}'`, at);
        this.names.set(name, this.groups + 1);
        return this.capturing(at, `(?<${name}>`);
      }
      if (this.peek() === "=") {
        this.pos++;
        const name = this.groupName(")", at);
        const index = this.names.get(name);
        if (index === undefined) throw new PyRegexError(`unknown group name '${name}'`, at);
        if (this.openGroups.has(index)) throw new PyRegexError("cannot refer to an open group", at);
        return { js: `\\k<${name}>`, width: null, repeatable: true };
      }
      throw new PyRegexError("unknown extension ?P" + this.peek(), at);
    }
    if (c === ":" || c === ">") {
      this.pos++;
      return this.nonCapturing(at, "(?:");
    }
    if (c === "=" || c === "!") {
      this.pos++;
      const inner = this.nonCapturing(at, `(?${c}`);
      return { ...inner, width: 0 };
    }
    if (c === "<") {
      const kind = this.peek(1);
      if (kind !== "=" && kind !== "!") throw new PyRegexError(`unknown extension ?<${kind}; name groups with (?P<name>...)`, at);
      this.pos += 2;
      const inner = this.nonCapturing(at, `(?<${kind}`);
      if (inner.width === null) throw new PyRegexError("look-behind requires fixed-width pattern", at);
      return { js: inner.js, width: 0, repeatable: true, wrapForRepeat: true };
    }
    if (c === "(") return this.conditional(at);
    const flags = /^([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])/.exec(this.src.slice(this.pos));
    if (flags && [...flags[1]! + (flags[2] ?? "")].every((f) => PY_FLAGS.includes(f)) && (flags[1] || flags[2])) {
      this.flagsToJs(flags[1]! + (flags[2] ?? ""), this.pos);
      this.pos += flags[0].length;
      if (flags[3] === ")") throw new PyRegexError("global flags not at the start of the expression", at);
      return this.nonCapturing(at, "(?:");
    }
    throw new PyRegexError(`unknown extension ?${c}`, at);
  }

  private capturing(at: number, open: string): Piece {
    const index = ++this.groups;
    this.openGroups.add(index);
    const inner = this.alternation();
    this.closeGroup(at);
    this.openGroups.delete(index);
    return { js: `${open}${inner.js})`, width: inner.width, repeatable: true };
  }

  private nonCapturing(at: number, open: string): Piece {
    const inner = this.alternation();
    this.closeGroup(at);
    return { js: `${open}${inner.js})`, width: inner.width, repeatable: true };
  }

  private conditional(at: number): Piece {
    this.pos++;
    const end = this.src.indexOf(")", this.pos);
    if (end < 0) throw new PyRegexError("missing ), unterminated name", this.pos);
    const ref = this.src.slice(this.pos, end);
    if (/^\d+$/.test(ref)) {
      const group = Number(ref);
      if (group === 0) throw new PyRegexError("bad group number", this.pos);
      this.forwardRefs.push([group, this.pos]);
      this.pos += ref.length + 1;
    } else {
      const name = this.groupName(")", at);
      if (!this.names.has(name)) throw new PyRegexError(`unknown group name '${name}'`, at);
    }
    const yes = this.sequence();
    let no: Piece = { js: "", width: 0, repeatable: true };
    if (this.peek() === "|") {
      this.pos++;
      no = this.sequence();
      if (this.peek() === "|") throw new PyRegexError("conditional backref with more than two branches", this.pos);
    }
    this.closeGroup(at);
    const width = yes.width !== null && yes.width === no.width ? yes.width : null;
    return { js: `(?:${yes.js}|${no.js})`, width, repeatable: true };
  }
}

/** Parses a Python `re` pattern; throws PyRegexError with Python's wording for what Python refuses. */
function translatePython(pattern: string): { regex: RegExp; names: string[] } {
  // failregex.py turns "((?i)x)" and "(?:(?i)x)" into the scoped "(?i:x)" before compiling.
  const scoped = pattern.replace(/(?<!\\)\((?:\?:)?(\(\?[a-z]+)\)/g, "$1:");
  const parsed = new PythonRegexParser(scoped).parse();
  return { regex: new RegExp(parsed.js, parsed.flags), names: parsed.names };
}

/** Checks one fail2ban regex (tags allowed) the way fail2ban 1.0.2 would compile it. */
export function checkFail2banRegex(regex: string): RegexCheck {
  if (regex.trim() === "") return { ok: false, error: "Cannot add empty regex" };
  try {
    const { regex: js, names } = translatePython(resolveFail2banTags(regex));
    return { ok: true, groups: names, js };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}
