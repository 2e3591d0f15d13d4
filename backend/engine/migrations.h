/*
 * migrations.h - the schema migrations embedded from schema/NNN_name.sql at build time
 * (cmake/embed_migrations.cmake generates the table). Applied in order by db.c.
 */
#ifndef DD_MIGRATIONS_H
#define DD_MIGRATIONS_H

typedef struct dd_migration {
    int version;       /* NNN of the file name */
    const char *name;  /* the rest of the file name, without .sql */
    const char *sql;   /* the whole file */
} dd_migration;

extern const dd_migration dd_migrations[];
extern const int dd_migration_count;

#endif
