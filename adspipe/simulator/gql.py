"""A small, fast GraphQL executor over graphql-core's parser and validator.

graphql-core parses and validates the query (cached per query text) and coerces variables and
arguments; the validated selection is then compiled into a tree of `Field`s bound to resolver
functions and run by a tight loop. graphql-core's own executor is correct but several times
slower on 250-order pages; the subset here has no interfaces or unions, and its only mutations
(the bulk operations') have one root field each, which is what makes the direct walk safe. Error messages are translated to the GraphQL-Ruby wording Shopify
returns.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
    parse,
    print_ast,
    validate,
)
from graphql.execution.collect_fields import collect_fields, collect_sub_fields
from graphql.execution.values import get_argument_values, get_variable_values

Resolver = Callable[[Any, "Field", Any], Any]
Resolvers = dict[str, dict[str, Resolver]]


@dataclass
class Field:
    key: str  # response key (alias or name)
    name: str
    args: dict[str, Any]
    type_name: str  # the named type it returns
    is_list: bool
    sub: list[Field] | None  # None for a scalar or enum
    resolve: Resolver
    node: FieldNode
    cost_path: str  # response keys of enclosing connections/lists, dotted


class QueryError(Exception):
    """Errors before execution (parse, validation, variables, arguments): a list of error dicts."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "query error")
        self.errors = errors


def _typename(type_name: str) -> Resolver:
    return lambda obj, field, ctx: type_name


class Compiler:
    """Compiles (query, operationName, variables) into a field tree, with an LRU of results."""

    def __init__(self, schema: GraphQLSchema, resolvers: Resolvers, cache_size: int = 256) -> None:
        self.schema = schema
        self.resolvers = resolvers
        self._docs: OrderedDict[str, DocumentNode] = OrderedDict()
        self._plans: OrderedDict[tuple[str, str | None, str], list[Field]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def document(self, query: str) -> DocumentNode:
        with self._lock:
            doc = self._docs.get(query)
            if doc is not None:
                self._docs.move_to_end(query)
                return doc
        try:
            doc = parse(query)
        except GraphQLSyntaxError as exc:
            raise QueryError([_syntax_error(exc)]) from None
        errors = validate(self.schema, doc)
        if errors:
            raise QueryError([_ruby_error(e) for e in errors])
        with self._lock:
            self._docs[query] = doc
            while len(self._docs) > self._cache_size:
                self._docs.popitem(last=False)
        return doc

    def compile(
        self, query: str, operation_name: str | None, variables: dict[str, Any] | None
    ) -> list[Field]:
        import json

        key = (query, operation_name, json.dumps(variables or {}, sort_keys=True, default=str))
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        doc = self.document(query)
        operations = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name:
            operations = [o for o in operations if o.name and o.name.value == operation_name]
            if not operations:
                raise QueryError([{"message": f'No operation named "{operation_name}"'}])
        elif len(operations) > 1:
            raise QueryError([{"message": "An operation name is required"}])
        op = operations[0]
        root = self.schema.mutation_type if op.operation == OperationType.MUTATION else self.schema.query_type
        if op.operation == OperationType.SUBSCRIPTION or root is None:
            kind = op.operation.value
            raise QueryError([{"message": f"Schema is not configured for {kind}s", "locations": _locs(op)}])
        coerced = get_variable_values(self.schema, op.variable_definitions or (), variables or {})
        if isinstance(coerced, list):
            types = {v.variable.name.value: print_ast(v.type) for v in op.variable_definitions or ()}
            raise QueryError([_variable_error(e, types) for e in coerced])
        fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
        fields = collect_fields(self.schema, fragments, coerced, root, op.selection_set)
        plan = self._build(root, fields, fragments, coerced, "")
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > self._cache_size:
                self._plans.popitem(last=False)
        return plan

    def _build(
        self,
        parent: GraphQLObjectType,
        fields: dict[str, list[FieldNode]],
        fragments: dict[str, Any],
        variables: dict[str, Any],
        cost_path: str,
    ) -> list[Field]:
        out = []
        table = self.resolvers.get(parent.name, {})
        for key, nodes in fields.items():
            node = nodes[0]
            name = node.name.value
            if name == "__typename":
                out.append(
                    Field(key, name, {}, "String", False, None, _typename(parent.name), node, cost_path)
                )
                continue
            definition = parent.fields[name]
            args = get_argument_values(definition, node, variables)
            ftype = definition.type
            if isinstance(ftype, GraphQLNonNull):
                ftype = ftype.of_type
            is_list = isinstance(ftype, GraphQLList)
            named = get_named_type(ftype)
            resolver = table.get(name)
            if resolver is None:
                raise QueryError([{"message": f"Field '{name}' on '{parent.name}' is not available in the simulator",
                                   "locations": _locs(node)}])  # fmt: skip
            path = cost_path
            if named.name.endswith("Connection") or (is_list and "first" in args):
                path = f"{cost_path}.{key}" if cost_path else key
            sub = None
            if isinstance(named, GraphQLObjectType):
                sub_fields = collect_sub_fields(self.schema, fragments, variables, named, nodes)
                sub = self._build(named, sub_fields, fragments, variables, path)
            out.append(Field(key, name, args, named.name, is_list, sub, resolver, node, path))
        return out


def run(fields: list[Field], obj: Any, ctx: Any) -> dict[str, Any]:
    """Execute a compiled selection on one object."""
    out: dict[str, Any] = {}
    for f in fields:
        value = f.resolve(obj, f, ctx)
        if f.sub is not None and value is not None:
            sub = f.sub
            value = [run(sub, item, ctx) for item in value] if f.is_list else run(sub, value, ctx)
        out[f.key] = value
    return out


def _locs(node: Any) -> list[dict[str, int]]:
    loc = getattr(node, "loc", None)
    if loc is None or loc.source is None:
        return []
    from graphql.language.location import get_location

    where = get_location(loc.source, loc.start)
    return [{"line": where.line, "column": where.column}]


def _err_locs(error: GraphQLError) -> list[dict[str, int]]:
    return [{"line": loc.line, "column": loc.column} for loc in (error.locations or [])]


def _syntax_error(exc: GraphQLSyntaxError) -> dict[str, Any]:
    locations = _err_locs(exc)
    where = f" at [{locations[0]['line']}, {locations[0]['column']}]" if locations else ""
    detail = exc.message.removeprefix("Syntax Error: ")
    return {"message": f"Parse error on {detail!r}{where}", "locations": locations}


_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[str, dict[str, Any]]]]] = [
    (re.compile(r"Cannot query field '(\w+)' on type '(\w+)'"),
     lambda m: (f"Field '{m[1]}' doesn't exist on type '{m[2]}'",
                {"code": "undefinedField", "typeName": m[2], "fieldName": m[1]})),
    (re.compile(r"Unknown argument '(\w+)' on field '(\w+)\.(\w+)'"),
     lambda m: (f"Field '{m[3]}' doesn't accept argument '{m[1]}'",
                {"code": "argumentNotAccepted", "name": m[3], "typeName": "Field", "argumentName": m[1]})),
    (re.compile(r"Field '(\w+)' of type '([\w!\[\]]+)' must have a selection of subfields"),
     lambda m: (f"Field must have selections (field '{m[1]}' returns {m[2].strip('![]')} but has no "
                f"selections. Did you mean '{m[1]} {{ ... }}'?)",
                {"code": "selectionMismatch", "nodeName": f"field '{m[1]}'", "typeName": m[2].strip("![]")})),
    (re.compile(r"Field '(\w+)' must not have a selection since type '([\w!\[\]]+)' has no subfields"),
     lambda m: (f"Selections can't be made on scalars (field '{m[1]}' returns {m[2].strip('![]')} but has "
                f"selections [...])", {"code": "selectionMismatch", "nodeName": f"field '{m[1]}'"})),
    (re.compile(r"Field '(\w+)' argument '(\w+)' of type '([\w!\[\]]+)' is required"),
     lambda m: (f"Field '{m[1]}' is missing required arguments: {m[2]}",
                {"code": "missingRequiredArguments", "className": "Field", "name": m[1], "arguments": m[2]})),
    (re.compile(r"(?:Int|String|Boolean|ID|Enum \"?\w+\"?) cannot represent .*|Value .* does not exist in .*|Expected value of type .*"),
     lambda m: (f"Argument has an invalid value: {m[0]}", {"code": "argumentLiteralsIncompatible"})),
    (re.compile(r"Variable '\$(\w+)' is never used"),
     lambda m: (f"Variable ${m[1]} is declared by anonymous query but not used",
                {"code": "variableNotUsed", "variableName": m[1]})),
]  # fmt: skip


def _ruby_error(error: GraphQLError) -> dict[str, Any]:
    for pattern, build in _PATTERNS:
        match = pattern.search(error.message)
        if match:
            message, extensions = build(match)
            return {"message": message, "locations": _err_locs(error), "extensions": extensions}
    return {"message": error.message.rstrip("."), "locations": _err_locs(error)}


def _variable_error(error: GraphQLError, types: dict[str, str]) -> dict[str, Any]:
    match = re.search(r"Variable '\$(\w+)'", error.message)
    name = match[1] if match else "?"
    return {
        "message": f"Variable ${name} of type {types.get(name, '?')} was provided invalid value",
        "locations": _err_locs(error),
        "extensions": {"code": "INVALID_VARIABLE", "problems": [{"path": [], "explanation": error.message}]},
    }
