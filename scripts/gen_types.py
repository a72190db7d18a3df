"""Generate supabase/types/database.ts from a migrated database, as `supabase gen types` does.

The Supabase CLI's generator (postgres-meta) needs Docker; this one reads the same catalogs
and prints the same shape for what vproc's schema uses (tables, enums, RPCs). Anything it
cannot render faithfully (views, composite types, overloads, unnamed arguments) is an error
rather than a silent difference.

    uv run python scripts/gen_types.py --database-url postgresql://…/db [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "supabase" / "types" / "database.ts"
DEFAULT_SCHEMAS = ("public",)
GENERATED_HEADER = (
    "Generated from supabase/migrations by scripts/gen_types.py; do not edit by hand."
)
LINE_WIDTH = 80

# --------------------------------------------------------------------------------------------
# catalog model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgType:
    oid: int
    schema: str
    name: str
    category: str  # pg_type.typcategory: 'E' enum, 'A' array, 'C' composite, …
    element_oid: int  # arrays: the element type
    relation_oid: int  # row types: the table
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    is_nullable: bool
    has_default: bool
    identity: str  # '', 'a' (ALWAYS) or 'd' (BY DEFAULT)
    generated: str  # '' or 's'


@dataclass(frozen=True)
class Relationship:
    foreign_key_name: str
    columns: tuple[str, ...]
    is_one_to_one: bool
    referenced_relation: str
    referenced_columns: tuple[str, ...]


@dataclass
class Table:
    oid: int
    schema: str
    name: str
    columns: list[Column] = field(default_factory=list)
    relationships: list[Relationship] = field(default_factory=list)


@dataclass(frozen=True)
class Argument:
    name: str
    type_oid: int
    mode: str  # i, o, b (inout), v (variadic), t (table)
    has_default: bool


@dataclass(frozen=True)
class Function:
    schema: str
    name: str
    arguments: tuple[Argument, ...]
    return_type_oid: int
    returns_set: bool
    rows_estimate: float


@dataclass
class Catalog:
    schemas: list[str]
    types: dict[int, PgType]
    tables: list[Table]
    functions: list[Function]
    other_relations: list[str]


# --------------------------------------------------------------------------------------------
# introspection
# --------------------------------------------------------------------------------------------

TYPES_SQL = """
select t.oid::int, n.nspname, t.typname, t.typcategory, t.typelem::int, t.typrelid::int,
       coalesce(
         (select array_agg(e.enumlabel order by e.enumsortorder)
          from pg_enum e where e.enumtypid = t.oid),
         '{}'
       )
from pg_type t
join pg_namespace n on n.oid = t.typnamespace
"""

RELATIONS_SQL = """
select c.oid::int, n.nspname, c.relname, c.relkind::text
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any(%(schemas)s)
  and c.relkind in ('r', 'p', 'v', 'm', 'f')
  and not c.relispartition
order by c.relname
"""

COLUMNS_SQL = """
select a.attrelid::int, a.attname, a.atttypid::int, not a.attnotnull, a.atthasdef,
       a.attidentity::text, a.attgenerated::text
from pg_attribute a
where a.attrelid = any(%(oids)s) and a.attnum > 0 and not a.attisdropped
"""

# Adapted from postgres-meta's table_relationships query: a foreign key is one-to-one when
# its columns are exactly those of a primary key or unique constraint of the same table.
RELATIONSHIPS_SQL = """
with uniques as (
  select c.conrelid,
         array_agg(a.attname::text order by a.attnum) as cols
  from pg_constraint c
  cross join lateral unnest(c.conkey) as k(attnum)
  join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
  where c.contype in ('p', 'u')
  group by c.oid, c.conrelid
)
select fk.conname::text,
       tab.oid::int,
       ns2.nspname::text,
       other.relname::text,
       cols.cols,
       cols.refs,
       exists (select 1 from uniques u where u.conrelid = fk.conrelid and u.cols = cols.cols)
from pg_constraint fk
join pg_class tab on tab.oid = fk.conrelid
join pg_class other on other.oid = fk.confrelid
join pg_namespace ns2 on ns2.oid = other.relnamespace
cross join lateral (
  select array_agg(ca.attname::text order by k.ord) as cols,
         array_agg(ra.attname::text order by k.ord) as refs
  from unnest(fk.conkey, fk.confkey) with ordinality as k(col, ref, ord)
  join pg_attribute ca on ca.attrelid = fk.conrelid and ca.attnum = k.col
  join pg_attribute ra on ra.attrelid = fk.confrelid and ra.attnum = k.ref
) as cols
where fk.contype = 'f' and fk.conparentid = 0 and fk.conrelid = any(%(oids)s)
"""

FUNCTIONS_SQL = """
select n.nspname, p.proname, p.prorettype::int, p.proretset, p.prorows,
       coalesce(p.proargnames, '{}'), coalesce(p.proargmodes::text[], '{}'),
       coalesce(p.proallargtypes::int[], p.proargtypes::int[]), p.pronargdefaults, p.pronargs
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
where n.nspname = any(%(schemas)s)
  and p.prokind = 'f'
  and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype)
order by p.proname, p.oid
"""


def introspect(conn: psycopg.Connection, schemas: Sequence[str] = DEFAULT_SCHEMAS) -> Catalog:
    """Read the tables, columns, foreign keys, enums and functions of `schemas`."""
    params = {"schemas": list(schemas)}
    types = {
        row[0]: PgType(row[0], row[1], row[2], row[3], row[4], row[5], tuple(row[6]))
        for row in conn.execute(TYPES_SQL)
    }
    tables: dict[int, Table] = {}
    others: list[str] = []
    for oid, schema, name, kind in conn.execute(RELATIONS_SQL, params):
        if kind in ("r", "p"):
            tables[oid] = Table(oid, schema, name)
        else:
            others.append(f"{schema}.{name}")
    oids = list(tables)
    for relid, name, type_oid, nullable, has_default, identity, generated in conn.execute(
        COLUMNS_SQL, {"oids": oids}
    ):
        tables[relid].columns.append(
            Column(name, type_oid, nullable, has_default, identity, generated)
        )
    for fk_name, relid, ref_schema, ref_name, cols, refs, one_to_one in conn.execute(
        RELATIONSHIPS_SQL, {"oids": oids}
    ):
        table = tables[relid]
        # The generator only describes relationships within one schema (as postgres-meta).
        if ref_schema == table.schema:
            table.relationships.append(
                Relationship(fk_name, tuple(cols), one_to_one, ref_name, tuple(refs))
            )
    functions = []
    for (
        schema,
        name,
        rettype,
        retset,
        rows,
        argnames,
        argmodes,
        argtypes,
        ndefaults,
        nargs,
    ) in conn.execute(FUNCTIONS_SQL, params):
        modes = list(argmodes) or ["i"] * len(argtypes)
        names = list(argnames) + [""] * (len(argtypes) - len(argnames))
        in_positions = [i for i, m in enumerate(modes) if m in ("i", "b", "v")]
        defaulted = set(in_positions[nargs - ndefaults :]) if ndefaults else set()
        args = tuple(
            Argument(names[i], argtypes[i], modes[i], i in defaulted) for i in range(len(argtypes))
        )
        functions.append(Function(schema, name, args, rettype, retset, float(rows)))
    return Catalog(list(schemas), types, list(tables.values()), functions, others)


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------

IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")

NUMBER_TYPES = {"int2", "int4", "int8", "float4", "float8", "numeric"}
STRING_TYPES = {
    "bytea",
    "bpchar",
    "varchar",
    "date",
    "text",
    "citext",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "uuid",
    "vector",
    "interval",
}


def prop(name: str) -> str:
    """A property key as prettier prints it: bare when it is an identifier."""
    return name if IDENTIFIER.match(name) else json.dumps(name)


class Renderer:
    """Turns a Catalog into the text `supabase gen types typescript` prints."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.tables_by_oid = {t.oid: t for t in catalog.tables}
        unsupported = list(catalog.other_relations)
        unsupported += [
            f"{t.schema}.{t.name} (composite type)"
            for t in catalog.types.values()
            if t.schema in catalog.schemas and t.category == "C" and t.relation_oid == 0
        ]
        if unsupported:
            raise NotImplementedError(f"not supported by this generator: {', '.join(unsupported)}")

    # -- types -------------------------------------------------------------------------------

    def ts_type(self, type_oid: int) -> str:
        t = self.catalog.types[type_oid]
        if t.name == "bool":
            return "boolean"
        if t.name in NUMBER_TYPES:
            return "number"
        if t.name in STRING_TYPES:
            return "string"
        if t.name in ("json", "jsonb"):
            return "Json"
        if t.name == "void":
            return "undefined"
        if t.name == "record":
            return "Record<string, unknown>"
        if t.category == "A" and t.element_oid:
            return f"({self.ts_type(t.element_oid)})[]"
        if t.labels:
            if t.schema in self.catalog.schemas:
                return f'Database["{t.schema}"]["Enums"]["{t.name}"]'
            return " | ".join(json.dumps(label) for label in t.labels)
        if t.relation_oid in self.tables_by_oid:
            table = self.tables_by_oid[t.relation_oid]
            return f'Database["{table.schema}"]["Tables"]["{table.name}"]["Row"]'
        return "unknown"

    @staticmethod
    def simplify(ts: str) -> str:
        # prettier drops the parentheses around a simple array element: (string)[] -> string[]
        return re.sub(r"\((\w+)\)\[\]", r"\1[]", ts)

    def column_type(self, column: Column, *, force_nullable: bool = False) -> str:
        ts = self.simplify(self.ts_type(column.type_oid))
        if (column.is_nullable or force_nullable) and ts not in ("unknown", "any"):
            ts = f"{ts} | null"
        return ts

    # -- layout helpers ----------------------------------------------------------------------

    @staticmethod
    def member(indent: int, key: str, ts: str) -> list[str]:
        """`key: type`, breaking a long union over lines as prettier does."""
        line = f"{' ' * indent}{key}: {ts}"
        if len(line) <= LINE_WIDTH or " | " not in ts:
            return [line]
        return [f"{' ' * indent}{key}:"] + [
            f"{' ' * (indent + 2)}| {part}" for part in ts.split(" | ")
        ]

    def columns_block(self, indent: int, columns: Iterable[Column], *, mode: str) -> list[str]:
        lines: list[str] = []
        for column in sorted(columns, key=lambda c: c.name):
            key = prop(column.name)
            if mode != "Row" and column.identity == "a":
                lines.append(f"{' ' * indent}{key}?: never")
                continue
            optional = mode == "Update" or (
                mode == "Insert"
                and (column.is_nullable or column.identity != "" or column.has_default)
            )
            lines += self.member(indent, key + ("?" if optional else ""), self.column_type(column))
        return lines

    @staticmethod
    def braced(indent: int, head: str, body: list[str], tail: str = "") -> list[str]:
        if not body:
            return [f"{' ' * indent}{head}{{}}{tail}"]
        return [f"{' ' * indent}{head}{{", *body, f"{' ' * indent}}}{tail}"]

    # -- sections ----------------------------------------------------------------------------

    def table_block(self, table: Table, indent: int) -> list[str]:
        inner = indent + 2
        lines = [f"{' ' * indent}{prop(table.name)}: {{"]
        for mode in ("Row", "Insert", "Update"):
            lines += self.braced(
                inner, f"{mode}: ", self.columns_block(inner + 2, table.columns, mode=mode)
            )
        rels = sorted(
            table.relationships,
            key=lambda r: (
                r.foreign_key_name,
                r.referenced_relation,
                json.dumps(list(r.referenced_columns)),
            ),
        )
        if not rels:
            lines.append(f"{' ' * inner}Relationships: []")
        else:
            lines.append(f"{' ' * inner}Relationships: [")
            pad = " " * (inner + 4)
            for r in rels:
                lines += [
                    f"{' ' * (inner + 2)}{{",
                    f"{pad}foreignKeyName: {json.dumps(r.foreign_key_name)}",
                    f"{pad}columns: {json.dumps(list(r.columns))}",
                    f"{pad}isOneToOne: {'true' if r.is_one_to_one else 'false'}",
                    f"{pad}referencedRelation: {json.dumps(r.referenced_relation)}",
                    f"{pad}referencedColumns: {json.dumps(list(r.referenced_columns))}",
                    f"{' ' * (inner + 2)}}},",
                ]
            lines.append(f"{' ' * inner}]")
        lines.append(f"{' ' * indent}}}")
        return lines

    def function_block(self, fns: list[Function], indent: int) -> list[str]:
        if len(fns) != 1:
            raise NotImplementedError(f"overloaded function {fns[0].schema}.{fns[0].name}")
        fn = fns[0]
        inner = indent + 2
        in_args = sorted(
            (a for a in fn.arguments if a.mode in ("i", "b", "v")), key=lambda a: a.name
        )
        if any(a.name == "" for a in in_args):
            raise NotImplementedError(f"unnamed argument in {fn.schema}.{fn.name}")
        if in_args:
            parts = "; ".join(
                f"{prop(a.name)}{'?' if a.has_default else ''}: "
                + self.simplify(self.ts_type(a.type_oid))
                for a in in_args
            )
            args = f"{{ {parts} }}"
        else:
            args = "never"
        lines = [f"{' ' * indent}{prop(fn.name)}: {{", f"{' ' * inner}Args: {args}"]

        table_out = [a for a in fn.arguments if a.mode == "t"]
        ret = self.catalog.types[fn.return_type_oid]
        returns_table = self.tables_by_oid.get(ret.relation_oid) if ret.relation_oid else None
        many = fn.rows_estimate > 1
        if table_out:
            body = [
                f"{' ' * (inner + 2)}{prop(a.name)}: {self.simplify(self.ts_type(a.type_oid))}"
                for a in table_out
            ]
            lines += self.braced(inner, "Returns: ", body, "[]" if fn.returns_set else "")
        elif returns_table is not None:
            body = self.columns_block(inner + 2, returns_table.columns, mode="Row")
            lines += self.braced(inner, "Returns: ", body, "[]" if fn.returns_set and many else "")
            lines += [
                f"{' ' * inner}SetofOptions: {{",
                f'{" " * (inner + 2)}from: "*"',
                f"{' ' * (inner + 2)}to: {json.dumps(returns_table.name)}",
                f"{' ' * (inner + 2)}isOneToOne: {'false' if many else 'true'}",
                f"{' ' * (inner + 2)}isSetofReturn: {'true' if fn.returns_set else 'false'}",
                f"{' ' * inner}}}",
            ]
        else:
            ts = self.simplify(self.ts_type(fn.return_type_oid))
            lines.append(f"{' ' * inner}Returns: {ts}{'[]' if fn.returns_set else ''}")
        lines.append(f"{' ' * indent}}}")
        return lines

    def schema_block(self, schema: str) -> list[str]:
        tables = sorted(
            (t for t in self.catalog.tables if t.schema == schema), key=lambda t: t.name
        )
        fns: dict[str, list[Function]] = {}
        for fn in self.catalog.functions:
            if fn.schema == schema:
                fns.setdefault(fn.name, []).append(fn)
        enums = sorted(
            (t for t in self.catalog.types.values() if t.schema == schema and t.labels),
            key=lambda t: t.name,
        )
        never = "[_ in never]: never"
        lines = [f"  {prop(schema)}: {{", "    Tables: {"]
        lines += [line for t in tables for line in self.table_block(t, 6)] or [f"      {never}"]
        lines += ["    }", "    Views: {", f"      {never}", "    }", "    Functions: {"]
        lines += [line for name in sorted(fns) for line in self.function_block(fns[name], 6)] or [
            f"      {never}"
        ]
        lines += ["    }", "    Enums: {"]
        lines += [
            line
            for e in enums
            for line in self.member(6, prop(e.name), " | ".join(json.dumps(v) for v in e.labels))
        ] or [f"      {never}"]
        lines += ["    }", "    CompositeTypes: {", f"      {never}", "    }", "  }"]
        return lines

    def constants_block(self) -> list[str]:
        lines = ["export const Constants = {"]
        for schema in sorted(self.catalog.schemas):
            enums = sorted(
                (t for t in self.catalog.types.values() if t.schema == schema and t.labels),
                key=lambda t: t.name,
            )
            lines += [f"  {prop(schema)}: {{", "    Enums: {"]
            for e in enums:
                values = ", ".join(json.dumps(v) for v in e.labels)
                line = f"      {prop(e.name)}: [{values}],"
                if len(line) <= LINE_WIDTH:
                    lines.append(line)
                else:
                    lines.append(f"      {prop(e.name)}: [")
                    lines += [f"        {json.dumps(v)}," for v in e.labels]
                    lines.append("      ],")
            lines += ["    },", "  },"]
        lines.append("} as const")
        return lines

    def render(self) -> str:
        lines = [
            f"// {GENERATED_HEADER}",
            "",
            "export type Json =",
            "  | string",
            "  | number",
            "  | boolean",
            "  | null",
            "  | { [key: string]: Json | undefined }",
            "  | Json[]",
            "",
            "export type Database = {",
        ]
        for schema in sorted(self.catalog.schemas):
            lines += self.schema_block(schema)
        lines += ["}", ""]
        lines += HELPER_TYPES.strip("\n").splitlines()
        lines += ["", *self.constants_block()]
        return "\n".join(lines) + "\n"


# The helpers postgres-meta appends after `Database`, as prettier formats them.
HELPER_TYPES = """
type DatabaseWithoutInternals = Omit<Database, "__InternalSupabase">

type DefaultSchema = DatabaseWithoutInternals[Extract<keyof Database, "public">]

export type Tables<
  DefaultSchemaTableNameOrOptions extends
    | keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
        DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
      DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])[TableName] extends {
      Row: infer R
    }
    ? R
    : never
  : DefaultSchemaTableNameOrOptions extends keyof (DefaultSchema["Tables"] &
        DefaultSchema["Views"])
    ? (DefaultSchema["Tables"] &
        DefaultSchema["Views"])[DefaultSchemaTableNameOrOptions] extends {
        Row: infer R
      }
      ? R
      : never
    : never

export type TablesInsert<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Insert: infer I
    }
    ? I
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Insert: infer I
      }
      ? I
      : never
    : never

export type TablesUpdate<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Update: infer U
    }
    ? U
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Update: infer U
      }
      ? U
      : never
    : never

export type Enums<
  DefaultSchemaEnumNameOrOptions extends
    | keyof DefaultSchema["Enums"]
    | { schema: keyof DatabaseWithoutInternals },
  EnumName extends DefaultSchemaEnumNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"]
    : never = never,
> = DefaultSchemaEnumNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"][EnumName]
  : DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][DefaultSchemaEnumNameOrOptions]
    : never

export type CompositeTypes<
  PublicCompositeTypeNameOrOptions extends
    | keyof DefaultSchema["CompositeTypes"]
    | { schema: keyof DatabaseWithoutInternals },
  CompositeTypeName extends PublicCompositeTypeNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"]
    : never = never,
> = PublicCompositeTypeNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"][CompositeTypeName]
  : PublicCompositeTypeNameOrOptions extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][PublicCompositeTypeNameOrOptions]
    : never
"""  # noqa: E501


def generate(database_url: str, schemas: Sequence[str] = DEFAULT_SCHEMAS) -> str:
    """Return the TypeScript text for the database at `database_url`."""
    with psycopg.connect(database_url) as conn:
        catalog = introspect(conn, schemas)
    return Renderer(catalog).render()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--schema", action="append", dest="schemas")
    parser.add_argument("--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    text = generate(args.database_url, args.schemas or DEFAULT_SCHEMAS)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
