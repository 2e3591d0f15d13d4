/*
 * migrations.h - the schema migrations embedded from schema/<engine>/NNN_name.sql at build
 * time (cmake/embed_migrations.cmake generates one set per engine). One numbered sequence:
 * version N is the same logical schema on every engine (docs/ENGINES.md §3.2). Each
 * engine's set runs without a gap from its floor (its first version, a baseline) to the
 * newest version, the same on every engine; the build fails otherwise. db.c applies the
 * set of the store's engine (struct dd_engine's `migrations`) in order.
 */
#ifndef DD_MIGRATIONS_H
#define DD_MIGRATIONS_H

typedef struct dd_migration {
    int version;       /* NNN of the file name */
    const char *name;  /* the rest of the file name, without .sql */
    const char *sql;   /* the whole file */
} dd_migration;

typedef struct dd_migration_set {
    const dd_migration *list;   /* ascending versions, floor .. newest */
    int count;
    int floor;                  /* the first version: a new database gets list[0] first */
} dd_migration_set;

extern const dd_migration_set dd_migrations_sqlite;
extern const dd_migration_set dd_migrations_postgres;

#endif
