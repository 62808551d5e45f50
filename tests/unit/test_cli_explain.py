"""explain's port of kubectl's plaintext template on a small OpenAPI document."""

from __future__ import annotations

from cli.explain import Explainer, find_schema, wrap

DOC = {"components": {"schemas": {
    "io.k8s.api.x.v1.Thing": {
        "type": "object", "description": "A thing.", "required": ["spec"],
        "x-kubernetes-group-version-kind": [{"group": "x", "version": "v1", "kind": "Thing"}],
        "properties": {"spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.x.v1.Spec"}]},
                       "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
    "io.k8s.api.x.v1.Spec": {"type": "object", "properties": {
        "mode": {"type": "string", "enum": ["", "A", "B", "C", "D", "E"]},
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/io.k8s.api.x.v1.Spec"}},
        "port": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}}},
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
}}}


def test_types_fields_enums_and_cycles() -> None:
    thing = find_schema(DOC, "x", "v1", "Thing")
    assert thing is not None
    flat = Explainer(DOC, recursive=False)
    assert flat.output(thing, ["spec", "mode"], frozenset()) == (
        'FIELD: mode <string>\nENUM:\n    ""\n    A\n    B\n    C\n    D\n    E\n\nDESCRIPTION:\n    <empty>\n')
    tree = Explainer(DOC, recursive=True).output(thing, [], frozenset())
    assert tree == ("DESCRIPTION:\n    A thing.\n    \nFIELDS:\n"
                    "  labels\t<map[string]string>\n"
                    "  spec\t<Spec> -required-\n"
                    "    items\t<[]Spec>\n"                 # the $ref cycle is cut here
                    "    mode\t<string>\n    enum: \"\", A, B, C, ....\n"
                    "    port\t<string>\n")
    assert flat.output(thing, ["nope"], frozenset()) == ""


def test_wrap_keeps_long_words_and_breaks() -> None:
    assert wrap("aa bb cc\ndd", 5) == "aa bb\ncc\ndd"
    assert wrap("x" * 10, 4) == "x" * 10
