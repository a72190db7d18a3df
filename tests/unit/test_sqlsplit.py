"""The statement splitter matches the Supabase CLI's rules."""

from __future__ import annotations

from processor.db.sqlsplit import split_statements


def test_semicolons_inside_bodies_quotes_and_comments_do_not_split() -> None:
    sql = """
-- a comment; with a semicolon
create function f() returns int language plpgsql as $$
begin
  perform 1; return 2;
end;
$$;
select 'a;b', "we;ird", $tag$ x; y $tag$;
/* block; /* nested; */ still */ select 3;
do $$ begin raise notice 'hi;'; end $$;
select (1;2);;
"""
    assert split_statements(sql) == [
        "-- a comment; with a semicolon\ncreate function f() returns int language plpgsql as $$\n"
        "begin\n  perform 1; return 2;\nend;\n$$",
        "select 'a;b', \"we;ird\", $tag$ x; y $tag$",
        "/* block; /* nested; */ still */ select 3",
        "do $$ begin raise notice 'hi;'; end $$",
        "select (1;2)",
    ]


def test_doubled_quotes_and_begin_atomic() -> None:
    sql = (
        "select 'it''s; fine';\n"
        "create function g() returns int language sql begin atomic select 1; select 2; end;\n"
        "select 4"
    )
    assert split_statements(sql) == [
        "select 'it''s; fine'",
        "create function g() returns int language sql begin atomic select 1; select 2; end",
        "select 4",
    ]


def test_blank_input_has_no_statements() -> None:
    assert split_statements("  ;\n ; -- nothing\n") == ["-- nothing"]
    assert split_statements("") == []
