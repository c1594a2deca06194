"""The one gate between a graph's names and the C that mxc generates.

Names, attribute keys and values come from symbol files that users download, so none of them
reaches generated C as text. This module is the only way they get there:

- `c_ident(name, taken)`: a C identifier derived from a name: `[A-Za-z0-9_]` only, starting with
  a letter, at most IDENT_MAX characters, with a numeric suffix when two names collide;
- `c_comment(text)`: text for inside a `/* */` comment: printable ASCII only, no comment
  delimiters, one line, length-capped;
- `c_string(text)`: a complete C string literal, every byte outside printable ASCII (and `"`,
  `\\`, `?`, `*`, `/`, so that it cannot open or close a comment either) written as an octal
  escape.

Every `{{ ... }}` of every template passes through `finalize`: values that this module (or a
template itself) produced are `Markup` and pass; numbers pass; any other string must look like a
C token or expression of the compiler's own making (identifier characters, digits, operators,
parentheses; never a newline, quote, backslash, `#`, `;`, brace or comment delimiter), so a name
that slipped past the gate is an error at render time, not code.
"""
import re

from markupsafe import Markup

from .errors import MXNetError

IDENT_MAX = 48
COMMENT_MAX = 200
NAME_MAX = 1024          # longest graph name accepted in a file or a symbol

_NOT_IDENT = re.compile(r"[^0-9A-Za-z_]+")
_SAFE_TEXT = re.compile(r"[A-Za-z0-9_ .,:+\-*/%()\[\]<>=!&|^~?]*\Z")


def c_ident(name, taken=None, fallback="t"):
    """A C identifier for `name`, unique in `taken` (a set that receives it) when given."""
    base = _NOT_IDENT.sub("_", str(name)).strip("_")[:IDENT_MAX] or fallback
    if not base[0].isalpha():
        base = fallback + "_" + base
    base = base[:IDENT_MAX]
    if taken is None:
        return base
    cand, k = base, 1
    while cand in taken or cand.lower() in _RESERVED:
        suffix = "_%d" % k
        cand = base[:IDENT_MAX - len(suffix)] + suffix
        k += 1
    taken.add(cand)
    return cand


def check_name(name):
    """An export or library name chosen by the user: it names files and prefixes every C symbol,
    so it must already be a C identifier (no sanitising behind the user's back)."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) \
            or len(name) > IDENT_MAX or name.lower() in _RESERVED:
        raise MXNetError("export name %r must be a C identifier: a letter, then letters, digits "
                         "or _, at most %d characters" % (name, IDENT_MAX))
    return name


def c_comment(text):
    """Text that is safe inside a C block comment (and a // comment): one printable line."""
    out = []
    for ch in str(text):
        o = ord(ch)
        out.append(ch if 32 <= o < 127 else "?")
    s = "".join(out)
    while "/*" in s or "*/" in s or "//" in s:
        s = s.replace("/*", "/ *").replace("*/", "* /").replace("//", "/ /")
    s = s.replace("\\", "/")          # a trailing backslash would continue a // comment
    if len(s) > COMMENT_MAX:
        s = s[:COMMENT_MAX - 3] + "..."
    return Markup(s)


def c_string(text):
    """A C string literal holding the UTF-8 bytes of `text` exactly."""
    out = ['"']
    for b in str(text).encode("utf-8", "surrogatepass"):
        ch = chr(b)
        if 32 <= b < 127 and ch not in '"\\?*/':
            out.append(ch)
        else:
            out.append("\\%03o" % b)
    out.append('"')
    return Markup("".join(out))


def trusted(code):
    """Mark C text that the compiler itself produced (never from a file) as renderable."""
    return Markup(code)


def finalize(value):
    """Jinja's finalize hook: see the module docstring."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, bool) or value is None:
        return Markup(str(value))
    if isinstance(value, (int, float)):
        return Markup(repr(value) if isinstance(value, float) else str(value))
    if isinstance(value, (tuple, list)) and all(isinstance(v, int) for v in value):
        return Markup(str(tuple(value)))
    text = str(value)
    if _SAFE_TEXT.match(text) and "/*" not in text and "*/" not in text and "//" not in text:
        return Markup(text)
    raise MXNetError("refusing to render %r into generated C: names from a graph reach C only "
                     "as sanitised identifiers, escaped comments or string literals"
                     % (text[:80],))


_RESERVED = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "real", "mem", "main", "asm", "bool",
    "true", "false", "nan", "infinity", "null",
}
