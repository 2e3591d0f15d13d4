/*
 * vfs_int.h - what the pieces of the filesystem core share: node kinds, inode numbers,
 * the vfs context struct and the per-open-file handle.
 */
#ifndef DD_VFS_INT_H
#define DD_VFS_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "artifacts.h"
#include "dlist.h"
#include "vfs.h"

/* What a node is. The id in its inode is the row it belongs to (noted per kind). */
typedef enum nk {
    NK_NONE = 0,
    NK_ROOT,            /* /                          id 0 */
    NK_PROJECTS,        /* /projects                  id 0 */
    NK_MODELS,          /* /models                    id 0 */
    NK_PROJECT,         /* projects/<p>               project */
    NK_P_EXPERIMENTS,   /* projects/<p>/experiments   project */
    NK_P_DESCRIPTION,
    NK_P_CREATED,
    NK_P_TAGS,
    NK_P_TAG,           /* tags/<t>                   project_tag link */
    NK_EXPERIMENT,      /* .../experiments/<e>        experiment */
    NK_E_ITERATIONS,
    NK_E_NEW,           /* iterations/new (clone file, not listed) */
    NK_E_STATUS,
    NK_E_DESCRIPTION,
    NK_E_CREATED,
    NK_E_ENDED,
    NK_E_TAGS,
    NK_E_TAG,           /* experiment_tag link */
    NK_ITERATION,       /* iterations/<id>            iteration */
    NK_I_STATUS,
    NK_I_NOTES,
    NK_I_ERROR,
    NK_I_CREATED,
    NK_I_ENDED,
    NK_I_PARENT,        /* symlink to ../<parent id> */
    NK_I_YAML,          /* iteration.yaml, read-only view of the row */
    NK_I_PARAMS_YAML,   /* DVC params.yaml */
    NK_I_METRICS_JSON,  /* DVC metrics.json */
    NK_I_PARAMS,
    NK_I_PARAM,         /* params/<key>               parameter */
    NK_I_METRICS,
    NK_I_METRIC,        /* metrics/<key>              metric_latest (series) */
    NK_I_ENV,
    NK_ENV_GIT_SHA,
    NK_ENV_GIT_DIRTY,
    NK_ENV_ENTRYPOINT,
    NK_ENV_JULIA_VERSION,
    NK_ENV_PROJECT_TOML,
    NK_ENV_MANIFEST_TOML,
    NK_ENV_FILE,        /* env/<lock file>            iteration_file */
    NK_I_CHILDREN,
    NK_I_CHILD,         /* children/<id> file: its id  the child iteration (not a
                           symlink: with `parent` it made a cycle for find -L) */
    NK_I_CHILD_NEW,     /* children/new (clone file, not listed) */
    NK_I_TAGS,
    NK_I_TAG,           /* iteration_tag link */
    NK_PENDING,         /* a file created but not yet stored (params/<new>, metrics/<new>,
                           resources/<new>) */
    /* artifacts */
    NK_E_RESOURCES,     /* .../experiments/<e>/resources   experiment */
    NK_RESOURCE,        /* resources/<name>               resource */
    /* the registry */
    NK_P_MODELS,        /* projects/<p>/models            project */
    NK_MODEL,           /* projects/<p>/models/<m>        model */
    NK_M_CREATED,
    NK_M_DESCRIPTION,
    NK_M_YAML,          /* model.yaml */
    NK_M_PROJECT,       /* project: the project's name (a symlink ../.. was a cycle) */
    NK_M_PRODUCTION,    /* symlink versions/<n> */
    NK_M_STAGING,       /* symlink versions/<n> */
    NK_M_VERSIONS,      /* versions/                      model */
    NK_M_ALIASES,       /* aliases/                       model */
    NK_V_NEW,           /* versions/new/ (registration directory, not listed)   model */
    NK_V_NEW_FILE,      /* versions/new/<iteration>[:<resource>] (pending slot)  */
    NK_VERSION,         /* versions/<n>                   model_version */
    NK_V_ARTIFACT,      /* the linked resource's bytes */
    NK_V_STAGE,
    NK_V_DESCRIPTION,
    NK_V_CREATED,
    NK_V_YAML,          /* version.yaml */
    NK_V_ITERATION,     /* symlink to the producing iteration */
    NK_V_RESOURCE,      /* symlink to the linked resource */
    NK_ALIAS,           /* aliases/<a> symlink             model_version */
    NK_MODEL_LINK,      /* /models/<m> symlink             model */
    NK_SCRATCH,         /* an editor's temporary file (scratch.c)   scratch slot */
    /* charts (charts.c) */
    NK_I_METRIC_SVG,    /* metrics/<key>.svg              metric_latest (series) */
    NK_E_CHARTS,        /* .../experiments/<e>/charts     experiment */
    NK_E_CHART,         /* charts/<key>.svg               the key's lowest series id */
    NK_M_HISTORY,       /* models/<m>/history: its stage changes (read-only)   model */
    NK_COUNT
} nk;

#define INO_SHIFT 48
#define INO_ID_MASK ((UINT64_C(1) << INO_SHIFT) - 1)

static inline uint64_t ino_make(nk kind, int64_t id)
{
    return kind == NK_ROOT ? VFS_ROOT_INO : ((uint64_t)kind << INO_SHIFT) | ((uint64_t)id & INO_ID_MASK);
}
static inline nk ino_kind(uint64_t ino)
{
    return ino == VFS_ROOT_INO ? NK_ROOT : (nk)(ino >> INO_SHIFT);
}
/* A resource file's inode also carries the generation of its bytes (16 bits above a
 * 32-bit row id): new bytes show as a new inode number to `stat`, as a replaced file
 * would on a disk (tools like rsync and make notice the change). */
#define RES_ID_MASK UINT64_C(0xffffffff)

static inline int64_t ino_id(uint64_t ino)
{
    if (ino == VFS_ROOT_INO)
        return 0;
    uint64_t id = ino & INO_ID_MASK;
    return (int64_t)((ino >> INO_SHIFT) == NK_RESOURCE ? id & RES_ID_MASK : id);
}
static inline uint64_t res_ino(int64_t resource_id, int64_t generation)
{
    return ino_make(NK_RESOURCE, (int64_t)(((uint64_t)generation & 0xffff) << 32 |
                                           ((uint64_t)resource_id & RES_ID_MASK)));
}

/* What a process is doing to an entity directory (see ops.c, removal protocol). */
typedef enum rm_mark {
    RS_NONE = 0,
    RS_LISTED,            /* it listed the directory: an unlink of an entity's own file
                             may now start an `rm -r` (a lone `rm R/notes` may not) */
    RS_MARKED,            /* `rm -r` under way: unlinks below are deferred to the rmdir of
                             the directory itself, which deletes everything at once */
    RS_REFUSED,           /* the entity cannot be deleted: refuse the rest of that rm */
} rm_mark;

typedef struct removal {
    nk kind;              /* NK_PROJECT, NK_EXPERIMENT, NK_ITERATION, NK_MODEL, NK_VERSION */
    int64_t id;
    pid_t pid;            /* the process (thread group, not thread) running the `rm` */
    rm_mark state;
    double expires;       /* monotonic seconds */
} removal;

#define VFS_MAX_REMOVALS 64   /* the removal table's first size */
#define VFS_MAX_PENDING 256

/* A created file with no row yet (params/<key>, metrics/<key>, resources/<name> before
 * their first bytes), or a registration file versions/new/<iteration>[:<resource>]. */
typedef struct pending {
    int64_t id;           /* the NK_PENDING / NK_V_NEW_FILE inode id */
    nk kind;              /* NK_I_PARAM, NK_I_METRIC, NK_RESOURCE or NK_V_NEW_FILE */
    int64_t iteration_id; /* or the experiment (resources) or the model (registration) */
    int64_t iteration2;   /* registration: the iteration */
    char name[DD_NAME_MAX + 1];
    int refs;             /* open handles */
    double touched;       /* registration slots are recycled when idle */
} pending;

/* An editor's or tool's temporary file, in memory only (scratch.c). */
typedef struct scratch {
    int64_t id;           /* the NK_SCRATCH inode id; 0: free slot */
    uint64_t parent;      /* the directory's inode */
    char name[DD_NAME_MAX + 1];   /* "" once unlinked or renamed onto a real file */
    dd_buf data;
    int refs;             /* open handles */
    double mtime;         /* wall-clock seconds of the last change */
} scratch;

#define VFS_MAX_SCRATCH 64

struct attr_slot;            /* attr_cache.c */
/* A drawn chart kept for the next open of the same, unchanged chart (charts.c). */
typedef struct chart_cached {
    int kind;             /* NK_I_METRIC_SVG or NK_E_CHART; 0: free slot */
    int64_t id;
    dd_buf sig;           /* what it was drawn from: series ids, point counts, times... */
    dd_buf svg;
    uint64_t used;        /* LRU clock */
} chart_cached;

#define VFS_CHART_CACHE 16                 /* charts kept */
#define VFS_CHART_CACHE_BYTES (8u << 20)   /* their bytes in all */

struct vfs {
    dd_store *st;
    dd_artifacts *arts;
    vfs_options opts;
    uid_t uid;
    gid_t gid;
    pthread_mutex_t mu;   /* guards removals and pending */
    pthread_cond_t pending_gone;   /* broadcast (mu held) when a pending file's last handle
                                    * is freed: its row is stored, or it never will be */
    removal *removals;    /* grown as needed (ops.c, removal_mark) */
    size_t n_removals;
    pending pendings[VFS_MAX_PENDING];
    int64_t next_pending;
    scratch scratches[VFS_MAX_SCRATCH];   /* guarded by mu */
    chart_cached charts[VFS_CHART_CACHE];   /* guarded by mu */
    uint64_t chart_clock;
    size_t chart_bytes;
    int64_t next_scratch;
    size_t scratch_bytes;
    pthread_mutex_t attr_mu;       /* guards attrs, attr_keep */
    struct attr_slot *attrs;       /* attributes listings reported (attr_cache.c) */
    bool attr_keep;                /* false on a shared mount (vfs_keep_attrs) */
    /* Every open handle (files.c): at unmount the kernel drops the RELEASEs still
     * queued (close() does not wait for them), so vfs_free frees what is left here. */
    pthread_mutex_t files_mu;
    dd_dlink *files;               /* vfs_file.link */
};

/* How an open file behaves. */
typedef enum file_mode {
    FM_SNAPSHOT,   /* read-only: content rendered at open */
    FM_VALUE,      /* one value: writes collect into `wbuf`, committed as the new value */
    FM_METRIC,     /* append-only metric log: complete lines committed at each write */
    FM_CLONE,      /* iterations/new, children/new, versions/new/...: the first read
                      creates the iteration (registers the version); reads give its id */
    FM_PARAMS_YAML,/* params.yaml: the whole file replaces the parameters it names */
    FM_METRICS_JSON,/* metrics.json written: each number in it is logged as a point */
    FM_ARTIFACT,   /* resource bytes: reads from its backend, writes stream into an upload */
    FM_SCRATCH,    /* an editor's temporary file: bytes in memory (scratch.c) */
} file_mode;

/* What a metric handle's writes are (files.c, "rewrites"). */
typedef enum rewrite_state {
    RW_UNDECIDED,          /* no batch yet */
    RW_APPEND,             /* appends: the usual case */
    RW_ACTIVE,             /* the file's text written back: repeats are compared, not stored */
    RW_REFUSED,            /* a rewrite that changed points: every later write is refused */
} rewrite_state;

struct vfs_file {
    uint64_t ino;
    nk kind;
    int64_t id;            /* row id (for NK_PENDING, the pending slot's inode id) */
    file_mode mode;
    bool writable;
    bool dirty;            /* wbuf holds data not yet committed */
    bool refused;          /* params.yaml, metrics.json: a write was refused; the document
                              is void */
    dd_buf content;        /* FM_SNAPSHOT / FM_CLONE: what reads return */
    dd_buf wbuf;           /* FM_VALUE / FM_PARAMS_YAML: the new value; FM_METRIC: partial line */
    /* metric reads stream from the store in slices */
    int64_t iteration_id;
    char key[DD_NAME_MAX + 1];
    off_t read_off;        /* offset the slice in `content` starts at */
    bool read_resume;
    int64_t resume_step, resume_id;
    bool read_eof;
    bool metric_written;   /* a first batch went in: later ones are group-committed */
    bool metric_logged;    /* a batch went through the metric log: close waits for it */
    /* metric rewrites: a tool writing the file's text back (files.c, "rewrites") */
    bool append_flag;      /* opened O_APPEND: every write is an append */
    bool wrote;            /* a write came in; the first one's offset is first_off */
    off_t first_off;
    rewrite_state rewrite;
    int64_t rw_total;      /* the series' points when the rewrite began */
    int64_t rw_matched;    /* how many of them the rewrite has repeated so far */
    int64_t rw_step, rw_id;   /* the last one repeated (where the comparison resumes) */
    /* artifacts */
    dd_artifact_reader *reader;
    dd_upload *upload;
    int64_t experiment_id;   /* where an upload lands */
    bool replace;            /* the upload replaces an existing resource's bytes;
                                params.yaml: the document is the whole parameter set
                                (opened with O_TRUNC or truncated), not an addition */
    bool abandoned;          /* its writer was killed: never commit the upload; a value
                                past its bound: never commit it */
    /* clone files: what the first read creates, once for the handle (clone_mu) */
    pthread_mutex_t clone_mu;
    bool cloned;
    int64_t reg_model, reg_iteration;   /* a registration: versions/new/<iteration>... */
    int64_t user_id;         /* the opener's DearDiary user (0: not known), whom a stage
                                change or a registration through this handle names */
    /* Reads answering from the reader's own memory (vfs_read_with) in progress. Their
     * reply is written before they return, and the kernel may send RELEASE as soon as it
     * has the reply of the last read: another thread can run vfs_release while the
     * replying one still unwinds through the reader. So the handle is freed by whichever
     * of release and those reads lets go last (files.c file_put). */
    _Atomic int holders;
    dd_dlink link;         /* on v->files, under v->files_mu */
};

/* files.c: the handles still open when the filesystem ends are freed, never committed
 * (their writers' close() already returned: what flush committed is all they get). */
void files_free_open(vfs *v);

/* nodes.c */
/* The entity (NK_PROJECT ... NK_VERSION) whose row id a node of this kind carries, or
 * NK_NONE for kinds that carry their own row (params, metrics, resources, links...). */
nk node_owner(nk kind);
int node_attr(vfs *v, uint64_t ino, vfs_entry *out);
int node_render(vfs *v, nk kind, int64_t id, dd_buf *out);
/* The iteration a node under an iteration belongs to, or 0. */
int64_t node_iteration(vfs *v, nk kind, int64_t id);
int vfs_fail(dd_code code, const dd_err *err, const char *op);
bool iteration_ended(vfs *v, int64_t iteration_id);

/* attr_cache.c: the attributes a listing reported, for the getattr of each entry that
 * follows (see there for how long they are trusted). */
void attr_cache_init(vfs *v);
void attr_cache_free(vfs *v);
/* What to tag entries with: read before the store is asked for them. */
uint64_t attr_cache_gen(vfs *v);
void attr_cache_put(vfs *v, const vfs_entry *e, uint64_t gen);
/* true with *out filled when a listing's attributes for `ino` are still good. */
bool attr_cache_get(vfs *v, uint64_t ino, vfs_entry *out);
/* charts.c: the SVG charts (metrics/<key>.svg, experiments/<e>/charts/<key>.svg). */
typedef struct chart_info {
    int64_t id;              /* the inode id */
    int64_t iteration;       /* metrics/<key>.svg: its iteration; charts/: 0 */
    off_t size;              /* the rendered file's size, known without its points */
    char mtime[DD_TS_LEN];   /* its newest point (charts/: or iteration status change) */
} chart_info;
typedef int (*chart_cb)(void *ctx, const char *name, const chart_info *ci);
/* NK_I_METRIC_SVG or NK_E_CHART `id`: its size and time (no point read). */
int chart_info_of(vfs *v, nk kind, int64_t id, chart_info *out);
/* Its content, drawn now from the store (replaces out's content). */
int chart_render(vfs *v, nk kind, int64_t id, dd_buf *out);
/* A chart name in metrics/ (NK_I_METRICS, after the metric files were looked up) or in
 * charts/ (NK_E_CHARTS): its kind and inode id; -ENOENT when none. */
int chart_find(vfs *v, nk parent_kind, int64_t pid, const char *name, nk *kind,
               int64_t *id);
/* The charts a metrics/ or charts/ directory lists, in key order. */
int chart_list(vfs *v, nk parent_kind, int64_t pid, chart_cb cb, void *ctx);
void chart_cache_free(vfs *v);     /* vfs_free */

/* ops.c */
pending *pending_get(vfs *v, int64_t id);
/* A registration file versions/new/<iteration>[:<resource>] of `model_id`: validates the
 * name and returns its slot id (an NK_V_NEW_FILE inode id). */
int registration_slot(vfs *v, int64_t model_id, const char *name, int64_t *id_out);
/* Waits up to `timeout_s` while resources/<name> of experiment `experiment_id` is a pending
 * file of this mount (created, its handle not yet released). True when it was pending: its
 * row may exist now. An empty upload is stored at RELEASE, which the kernel sends after
 * close() has returned, so `cp empty resources/x` returns before the row exists. */
bool pending_resource_wait(vfs *v, int64_t experiment_id, const char *name, double timeout_s);

/* scratch.c: editors' temporary files (see there for what they are and their bounds).
 * All return 0 or -errno and lock v->mu themselves. */
/* Is `name` one of the shapes tools give temporary files (.x.swp, x~, #x#, x.tmp,
 * sedXXXXXX, ...)? */
bool scratch_name_is_temporary(const char *name);
/* May a new file `name` in a directory of kind `parent_kind` be a scratch file? */
bool scratch_dir_allows(nk parent_kind, const char *name);
int scratch_lookup(vfs *v, uint64_t parent, const char *name, vfs_entry *out);
int scratch_attr(vfs *v, int64_t id, vfs_entry *out);
/* The directory a scratch file was made in (its rights are that directory's). */
int scratch_parent(vfs *v, int64_t id, uint64_t *parent);
int scratch_create(vfs *v, uint64_t parent, const char *name, vfs_entry *out);
int scratch_open(vfs *v, int64_t id, bool truncate);      /* one more handle */
void scratch_release(vfs *v, int64_t id);                  /* one handle less */
int scratch_read(vfs *v, int64_t id, off_t off, size_t size, dd_buf *out);
ssize_t scratch_write(vfs *v, int64_t id, off_t off, const char *data, size_t size);
int scratch_truncate(vfs *v, int64_t id, off_t size);
int scratch_unlink(vfs *v, uint64_t parent, const char *name);
/* Rename a scratch file to another scratch name (replacing a scratch file there). */
int scratch_move(vfs *v, int64_t id, uint64_t newparent, const char *newname);
/* Append its bytes to out. */
int scratch_copy(vfs *v, int64_t id, dd_buf *out);
/* Its name goes (its bytes were committed to a real file by a rename). */
void scratch_forget(vfs *v, int64_t id);
void scratch_free_all(vfs *v);     /* vfs_free */

#endif
