"""The library database's numbered schema migrations: each runs once, in order, inside one transaction."""

from __future__ import annotations

import sqlite3

# Schema 1 (the first release): images and their full-text index. Never edit a migration once released: add one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,          -- relative to the outputs folder, with '/'
        created REAL NOT NULL,              -- the PNG's modification time (so a rebuild gives the same)
        prompt TEXT NOT NULL DEFAULT '',
        negative TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        task TEXT NOT NULL DEFAULT '',
        seed INTEGER NOT NULL DEFAULT -1,
        width INTEGER NOT NULL DEFAULT 0,
        height INTEGER NOT NULL DEFAULT 0,
        recipe TEXT NOT NULL DEFAULT '{}'   -- the recipe's fields as JSON
    );
    CREATE INDEX images_created ON images (created DESC, id DESC);
    CREATE VIRTUAL TABLE images_text USING fts5 (prompt, negative, content='images', content_rowid='id');
    CREATE TRIGGER images_text_add AFTER INSERT ON images BEGIN
        INSERT INTO images_text (rowid, prompt, negative) VALUES (new.id, new.prompt, new.negative);
    END;
    CREATE TRIGGER images_text_drop AFTER DELETE ON images BEGIN
        INSERT INTO images_text (images_text, rowid, prompt, negative) VALUES ('delete', old.id, old.prompt,
                                                                                old.negative);
    END;
    """,
    # Schema 2: tab, style and LoRAs as columns; owners (hosted visitors), stars, trash; boards.
    """
    ALTER TABLE images ADD COLUMN tab TEXT NOT NULL DEFAULT '';
    ALTER TABLE images ADD COLUMN style TEXT NOT NULL DEFAULT '';
    ALTER TABLE images ADD COLUMN loras TEXT NOT NULL DEFAULT '';  -- ',name,other,' (names only)
    ALTER TABLE images ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE images ADD COLUMN starred INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE images ADD COLUMN trashed REAL;                    -- when it went to the trash; NULL: not there
    UPDATE images SET tab = CASE task WHEN 'openpose' THEN 'pose' WHEN 'img2img' THEN 'image'
        WHEN 'inpaint' THEN 'image' ELSE task END;
    DROP INDEX images_created;
    CREATE INDEX images_owner_created ON images (owner, created DESC, id DESC);
    CREATE INDEX images_model ON images (model);
    CREATE TABLE boards (
        id INTEGER PRIMARY KEY,
        owner TEXT NOT NULL DEFAULT '',
        name TEXT NOT NULL,
        created REAL NOT NULL,
        UNIQUE (owner, name)
    );
    CREATE TABLE board_images (
        board INTEGER NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
        image INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
        added REAL NOT NULL,
        PRIMARY KEY (board, image)
    ) WITHOUT ROWID;
    CREATE INDEX board_images_image ON board_images (image);
    """,
    # Schema 3: recipes in their own table (the images table stays small, so scans and counts are fast), an index
    # that walks an owner's library newest first, and one for seeds.
    """
    CREATE TABLE recipes (
        id INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
        fields TEXT NOT NULL DEFAULT '{}'
    );
    INSERT INTO recipes (id, fields) SELECT id, recipe FROM images;
    ALTER TABLE images DROP COLUMN recipe;
    DROP INDEX images_owner_created;
    CREATE INDEX images_browse ON images (owner, trashed, created DESC, id DESC);
    CREATE INDEX images_seed ON images (seed);
    CREATE INDEX images_starred ON images (owner, created DESC) WHERE starred = 1;
    """,
    # Schema 4: the newest-first index carries every filtered column, so a filter walks it without reading rows.
    """
    DROP INDEX images_browse;
    DROP INDEX images_starred;
    CREATE INDEX images_browse ON images (owner, trashed, created DESC, id DESC, starred, tab, model, style, seed,
                                          width, height, loras);
    CREATE INDEX images_owner ON images (owner, trashed);  -- small: a whole library is counted from it
    """,
    # Schema 5: lineage. Each image's pixel hash (engine.media.images.pixel_hash, filled in the background), the
    # pixel hash of the image it was made from (an edit's parent, Your image's source, an upscale's source) and the
    # run that made it ('<task>:<token>': a Compare's cells, a Sweep's cells and grids, a batch).
    """
    ALTER TABLE images ADD COLUMN pixels TEXT;
    ALTER TABLE images ADD COLUMN came_from TEXT NOT NULL DEFAULT '';
    ALTER TABLE images ADD COLUMN run TEXT NOT NULL DEFAULT '';
    UPDATE images SET came_from = coalesce((SELECT coalesce(nullif(json_extract(fields, '$.parent'), ''),
        json_extract(fields, '$.source_hash'), '') FROM recipes WHERE recipes.id = images.id), '')
        WHERE task != 'upscale';
    CREATE INDEX images_pixels ON images (pixels);  -- NULLs too: the ones still to fingerprint
    CREATE INDEX images_came_from ON images (came_from) WHERE came_from != '';
    CREATE INDEX images_run ON images (run) WHERE run != '';
    """,
)
VERSION = len(MIGRATIONS)


def migrate(connection: sqlite3.Connection, upto: int = VERSION) -> int:
    """Run the migrations the database has not had yet (up to schema `upto`); returns its schema version."""
    current = connection.execute("PRAGMA user_version").fetchone()[0]
    if current > VERSION:
        raise sqlite3.DatabaseError(f"the library database has schema {current}, newer than this app's {VERSION}")
    for number in range(current, upto):
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number]):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number + 1}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    return max(current, upto)


def _statements(script: str) -> list[str]:
    """A migration's statements, split where sqlite3 says one is complete (triggers hold inner semicolons)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    return [s for s in statements if s.strip(" ;\n")]
