"""PostgreSQL full text: each photo's words with what BM25 needs of them, for ranking without the rows

Revision ID: 0010
Revises: 0009

store/pg_text.py scores BM25 from a word's weighted frequency in a row and the row's length. Read out of
image_fts's tsvectors, a word found in 25,000 of a million photos costs a visit to each of those rows on
every query (~100 ms on 2 cores). image_fts_terms holds one entry per (word, photo) with those two numbers
in its primary key's index, so the score of every matching photo is summed from the index alone and only
the best rows are read. A trigger keeps it equal to image_fts in the same transaction as every write.
SQLite's FTS5 ranks from its own inverted index: nothing changes there.
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# The weighted frequency of one tsvector entry: each occurrence counts its weight letter as pg_text.WEIGHTS
# does (tags 3, place and camera 2, name 1.5, OCR and labels 1); an entry without positions counts 1.
_FREQ = ("coalesce((SELECT sum(CASE w WHEN 'A' THEN 3.0 WHEN 'B' THEN 2.0 WHEN 'C' THEN 1.5 ELSE 1.0 END) "
         "FROM unnest(t.weights) AS w), 1.0)")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        return
    # Writers wait (readers do not) until the trigger is there: a row written after the copy's snapshot
    # and before the trigger would be missing from the word index.
    op.execute("LOCK TABLE image_fts IN SHARE MODE")
    op.execute("CREATE TABLE image_fts_terms (lexeme text NOT NULL, rowid bigint NOT NULL, freq real NOT NULL, "
               "length integer NOT NULL)")
    # Filled before its index: one sorted build instead of millions of inserts into it.
    op.execute(f"INSERT INTO image_fts_terms SELECT t.lexeme, f.rowid, {_FREQ}, length(f.doc) "
               "FROM image_fts f, unnest(f.doc) AS t")
    op.execute("ALTER TABLE image_fts_terms ADD PRIMARY KEY (lexeme, rowid) INCLUDE (freq, length)")
    # AFTER: the generated doc is computed by then. An update deletes the old words by the primary key.
    op.execute(f"""
        CREATE FUNCTION image_fts_terms_sync() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                DELETE FROM image_fts_terms WHERE lexeme = ANY (tsvector_to_array(OLD.doc)) AND rowid = OLD.rowid;
            END IF;
            IF TG_OP <> 'DELETE' THEN
                INSERT INTO image_fts_terms SELECT t.lexeme, NEW.rowid, {_FREQ}, length(NEW.doc) FROM unnest(NEW.doc) AS t;
            END IF;
            RETURN NULL;
        END $$""")
    op.execute("CREATE TRIGGER image_fts_terms_sync AFTER INSERT OR UPDATE OR DELETE ON image_fts "
               "FOR EACH ROW EXECUTE FUNCTION image_fts_terms_sync()")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        return
    op.execute("DROP TRIGGER image_fts_terms_sync ON image_fts")
    op.execute("DROP FUNCTION image_fts_terms_sync()")
    op.execute("DROP TABLE image_fts_terms")
