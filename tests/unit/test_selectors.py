"""Label selectors: parsing, canonical form, matching, errors (table-driven), plus a brute-force
cross check against a direct reading of the Kubernetes semantics.

The expectations follow k8s.io/apimachinery labels (selector_test.go) behaviour.
"""

from __future__ import annotations

import itertools

import pytest

from machinery.selectors import (
    LabelSelector,
    Requirement,
    parse_label_selector,
)

# ------------------------------------------------------------------ label selector parsing

# (input, canonical str)
VALID = [
    ("", ""),
    ("   ", ""),
    ("a=b", "a=b"),
    ("a==b", "a==b"),
    ("a!=b", "a!=b"),
    ("a = b", "a=b"),
    ("  a  ==  b  ", "a==b"),
    ("a\t!=\nb", "a!=b"),
    ("x=a,y=b,z=c", "x=a,y=b,z=c"),
    ("z=c,y=b,x=a", "x=a,y=b,z=c"),
    ("x=a||y=b", None),  # invalid, handled below: placeholder removed at collection time
    ("x=", "x="),
    ("x= ", "x="),
    ("x=,z= ", "x=,z="),
    ("x= ,z= ", "x=,z="),
    ("!x", "!x"),
    ("! x", "!x"),
    ("x", "x"),
    ("x,y", "x,y"),
    ("y,x", "x,y"),
    ("x in (a,b)", "x in (a,b)"),
    ("x in (b,a)", "x in (a,b)"),
    ("x in (a,a,b)", "x in (a,b)"),
    ("x in(a)", "x in (a)"),
    ("x in ( a , b )", "x in (a,b)"),
    ("x notin (a,b)", "x notin (a,b)"),
    ("x notin(a)", "x notin (a)"),
    ("x in ()", "x in ()"),
    ("x in (,)", "x in ()"),
    ("x in (a,)", "x in (,a)"),
    ("x in (,a)", "x in (,a)"),
    ("x in (a,,b)", "x in (,a,b)"),
    ("x in (in,notin)", "x in (in,notin)"),
    ("x=in", "x=in"),
    ("x=notin", "x=notin"),
    ("in=x", "in=x"),
    ("notin", "notin"),
    ("!in", "!in"),
    ("x>1", "x>1"),
    ("x<1", "x<1"),
    ("x > 10", "x>10"),
    ("x<+5", None),
    ("a=b,c!=d,e in (f,g),h notin (i),j,!k", "a=b,c!=d,e in (f,g),h notin (i),j,!k"),
    ("!k,j,h notin (i),e in (g,f),c!=d,a=b", "a=b,c!=d,e in (f,g),h notin (i),j,!k"),
    ("example.com/key=value", "example.com/key=value"),
    ("a.b-c_d=e.f-g_h", "a.b-c_d=e.f-g_h"),
    ("Key=Value", "Key=Value"),
    ("k8s.io/app in (web,db)", "k8s.io/app in (db,web)"),
    ("x=a,x=b", "x=a,x=b"),
    ("x=b,x=a", "x=b,x=a"),  # stable: same key keeps input order
    ("1=2", "1=2"),
    ("a" * 63 + "=" + "b" * 63, "a" * 63 + "=" + "b" * 63),
    ("p" * 253 + "/n=v", "p" * 253 + "/n=v"),
    ("x=a-b.c_d", "x=a-b.c_d"),
]
VALID = [(s, c) for s, c in VALID if c is not None]

# (input, substring of the error message)
INVALID = [
    ("x=a||y=b", "unable to parse requirement"),
    ("x<+5", "unable to parse requirement"),
    ("x=a,", "found '', expected: identifier after ','"),
    (",x=a", "found ',', expected: !, identifier, or 'end of string'"),
    ("x=a,,y=b", "found ',', expected: identifier after ','"),
    ("x y", "found 'y', expected: in, notin, =, ==, !=, gt, lt"),
    ("x=a y=b", "found 'y', expected: ',' or 'end of string'"),
    ("x=a=b", "found '=', expected: ',' or 'end of string'"),
    ("x==a==b", "found '==', expected: ',' or 'end of string'"),
    ("!x=a", "found '=', expected: ',' or 'end of string'"),
    ("!x in (a)", "found 'in', expected: ',' or 'end of string'"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("!!x", "unable to parse requirement: found '!', expected: identifier"),
    ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
    ("(a)", "found '(', expected: !, identifier, or 'end of string'"),
    ("x in a", "found 'a' expected: '('"),
    ("x in", "found '' expected: '('"),
    ("x notin", "found '' expected: '('"),
    ("x in (a", "expected: ',' or ')'"),
    ("x in (a b)", "found 'b', expected: ',' or ')'"),
    ("x in (a) y", "found 'y', expected: ',' or 'end of string'"),
    ("x in ((a))", "expected: ',', ')' or identifier"),
    ("x in (a,(b))", "expected: ',', or identifier"),
    ("x in (=)", "expected: ',', ')' or identifier"),
    ("x=(a)", "found '(', expected: identifier"),
    ("x=!a", "found '!', expected: identifier"),
    ("x!", "found '!', expected: in, notin"),
    ("x(a)", "found '(', expected: in, notin"),
    ("x=a b", "found 'b', expected: ',' or 'end of string'"),
    ("x>a", "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("x<1.5", "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("x>", "the value must be an integer"),
    ("x>99999999999999999999", "the value must be an integer"),
    ("-x=a", 'key: Invalid value: "-x"'),
    ("x-=a", "name part must consist of alphanumeric characters"),
    ("a b c", "expected: in, notin"),
    ("x/y/z=a", "a qualified name must consist of"),
    ("/x=a", "prefix part must be non-empty"),
    ("Example.com/x=a", "prefix part a lowercase RFC 1123 subdomain"),
    ("x/=a", "name part must be non-empty"),
    ("a" * 64 + "=b", "name part must be no more than 63 characters"),
    ("p" * 254 + "/n=v", "prefix part must be no more than 253 characters"),
    ("x=" + "b" * 64, "must be no more than 63 characters"),
    ("x=-a", 'values[0]: Invalid value: "-a"'),
    ("x=a-", "a valid label must consist of alphanumeric characters"),
    ("x=a b", "expected: ',' or 'end of string'"),
    ("x in (a,-b)", 'Invalid value: "-b"'),
    ("x=ä", "a valid label must consist of"),
    ("ä=x", "name part must consist of"),
    ("x=a;y=b", "a valid label must consist of"),
    ("x=a:b", "a valid label must consist of"),
    ("x in (a) ,", "found '', expected: identifier after ','"),
]


@pytest.mark.parametrize(("text", "canonical"), VALID)
def test_parse_valid(text: str, canonical: str) -> None:
    sel = parse_label_selector(text)
    assert str(sel) == canonical
    # The canonical form parses back to the same selector.
    assert parse_label_selector(str(sel)) == sel


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_label_selector(text)
    assert message in str(exc.value)


def test_parse_requirements_structure() -> None:
    sel = parse_label_selector("a=b,c!=d,e in (g,f),h notin (i),j,!k,l>3,m<4,n==o")
    assert [(r.key, r.operator, r.values) for r in sel.requirements] == [
        ("a", "=", ("b",)),
        ("c", "!=", ("d",)),
        ("e", "in", ("f", "g")),
        ("h", "notin", ("i",)),
        ("j", "exists", ()),
        ("k", "!", ()),
        ("l", "gt", ("3",)),
        ("m", "lt", ("4",)),
        ("n", "==", ("o",)),
    ]


# ------------------------------------------------------------------ label selector matching

# (selector, labels, expected)
MATCH = [
    ("", {}, True),
    ("", {"x": "y"}, True),
    ("x=y", {"x": "y"}, True),
    ("x=y", {"x": "z"}, False),
    ("x=y", {}, False),
    ("x==y", {"x": "y"}, True),
    ("x==y", {"x": "Y"}, False),
    ("x!=y", {"x": "z"}, True),
    ("x!=y", {"x": "y"}, False),
    ("x!=y", {}, True),  # absent key satisfies !=
    ("x=", {"x": ""}, True),
    ("x=", {}, False),
    ("x!=", {}, True),
    ("x!=", {"x": ""}, False),
    ("x", {"x": ""}, True),
    ("x", {"x": "anything"}, True),
    ("x", {"y": "x"}, False),
    ("!x", {}, True),
    ("!x", {"x": ""}, False),
    ("!x", {"y": "z"}, True),
    ("x in (a,b)", {"x": "a"}, True),
    ("x in (a,b)", {"x": "b"}, True),
    ("x in (a,b)", {"x": "c"}, False),
    ("x in (a,b)", {}, False),
    ("x in ()", {"x": ""}, True),
    ("x in ()", {"x": "a"}, False),
    ("x in (a,)", {"x": ""}, True),
    ("x notin (a,b)", {"x": "c"}, True),
    ("x notin (a,b)", {"x": "a"}, False),
    ("x notin (a,b)", {}, True),
    ("x notin ()", {"x": ""}, False),
    ("x>1", {"x": "2"}, True),
    ("x>1", {"x": "1"}, False),
    ("x>1", {"x": "0"}, False),
    ("x>1", {"x": "a"}, False),
    ("x>1", {}, False),
    ("x>-1", {"x": "0"}, None),  # "-1" is not a label value: invalid, checked below
    ("x<5", {"x": "4"}, True),
    ("x<5", {"x": "5"}, False),
    ("x<5", {"x": "-7"}, True),
    ("x<5", {"x": "+3"}, True),
    ("x<5", {"x": "3.5"}, False),
    ("x<5", {}, False),
    ("x=a,y=b", {"x": "a", "y": "b"}, True),
    ("x=a,y=b", {"x": "a"}, False),
    ("x=a,y=b", {"x": "a", "y": "c"}, False),
    ("x=a,y!=b", {"x": "a"}, True),
    ("x=a,!y", {"x": "a"}, True),
    ("x=a,!y", {"x": "a", "y": ""}, False),
    ("x=a,x=b", {"x": "a"}, False),
    ("x in (a,b),x notin (b)", {"x": "a"}, True),
    ("x in (a,b),x notin (b)", {"x": "b"}, False),
    ("example.com/app=web", {"example.com/app": "web"}, True),
    ("example.com/app=web", {"app": "web"}, False),
    ("a=b,c!=d,e in (f,g),h notin (i),j,!k", {"a": "b", "e": "g", "j": ""}, True),
    ("a=b,c!=d,e in (f,g),h notin (i),j,!k", {"a": "b", "e": "g", "j": "", "k": "1"}, False),
    ("a=b,c!=d,e in (f,g),h notin (i),j,!k", {"a": "b", "e": "g", "j": "", "h": "i"}, False),
    ("a=b,c!=d,e in (f,g),h notin (i),j,!k", {"a": "b", "e": "g", "j": "", "c": "d"}, False),
    ("a=b,c!=d,e in (f,g),h notin (i),j,!k", {"a": "b", "e": "g"}, False),
    ("a=b,c!=d,e in (f,g),h notin (i),j,!k", {"a": "b", "e": "x", "j": ""}, False),
]
MATCH = [m for m in MATCH if m[2] is not None]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCH)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


def test_negative_integer_value_is_not_a_label_value() -> None:
    with pytest.raises(ValueError, match="a valid label"):
        parse_label_selector("x>-1")


# A brute-force cross check: every requirement shape against every label combination,
# compared with a direct reading of the Kubernetes semantics.
_KEYS = ["a", "b"]
_VALUES = ["1", "2"]
_LABEL_SETS = [
    {k: v for k, v in zip(_KEYS, combo, strict=True) if v is not None}
    for combo in itertools.product([None, "1", "2", "3"], repeat=2)
]
_REQS = (
    [(f"{k}={v}", k, "eq", v) for k in _KEYS for v in _VALUES]
    + [(f"{k}!={v}", k, "ne", v) for k in _KEYS for v in _VALUES]
    + [(f"{k} in (1,2)", k, "in", None) for k in _KEYS]
    + [(f"{k} notin (1,2)", k, "notin", None) for k in _KEYS]
    + [(k, k, "exists", None) for k in _KEYS]
    + [(f"!{k}", k, "!", None) for k in _KEYS]
    + [(f"{k}>1", k, "gt", "1") for k in _KEYS]
)


def _expected(labels: dict[str, str], key: str, op: str, value: str | None) -> bool:
    have = labels.get(key)
    return {
        "eq": have == value,
        "ne": have != value,
        "in": have in ("1", "2"),
        "notin": have not in ("1", "2"),
        "exists": have is not None,
        "!": have is None,
        "gt": have is not None and int(have) > 1,
    }[op]


@pytest.mark.parametrize("pair", list(itertools.combinations(range(len(_REQS)), 2))[::7])
def test_matches_brute_force(pair: tuple[int, int]) -> None:
    r1, r2 = _REQS[pair[0]], _REQS[pair[1]]
    sel = parse_label_selector(f"{r1[0]},{r2[0]}")
    for labels in _LABEL_SETS:
        want = _expected(labels, *r1[1:]) and _expected(labels, *r2[1:])
        assert sel.matches(labels) is want, (str(sel), labels)


def test_everything_nothing_and_none_labels() -> None:
    assert LabelSelector.everything().matches(None)
    assert LabelSelector.everything().matches({"a": "b"})
    assert LabelSelector.everything().empty()
    assert not LabelSelector.nothing().matches({})
    assert not LabelSelector.nothing().matches({"a": "b"})
    assert LabelSelector.nothing().is_nothing and not LabelSelector.nothing().empty()
    assert str(LabelSelector.nothing()) == "" and str(LabelSelector.everything()) == ""
    assert parse_label_selector("!a").matches(None)
    assert not parse_label_selector("a").matches(None)
    assert LabelSelector.nothing() != LabelSelector.everything()


def test_requires_exact_match_and_add() -> None:
    sel = parse_label_selector("app=web,tier in (db),x notin (y)")
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("tier") == "db"
    assert sel.requires_exact_match("x") is None
    assert sel.requires_exact_match("nope") is None
    more = sel.add(Requirement.new("b", "exists"))
    assert str(more) == "app=web,b,tier in (db),x notin (y)"
    assert str(sel) == "app=web,tier in (db),x notin (y)"  # immutable


def test_selectors_are_hashable_and_comparable() -> None:
    a, b = parse_label_selector("x=1,y=2"), parse_label_selector(" y = 2 , x = 1 ")
    assert a == b and hash(a) == hash(b)
    assert len({a, b, parse_label_selector("x=1")}) == 2
