"""The model-registry tutorial of the original (seeds/000_model_registry.txt), done with
shell commands only, then checked through the mount and independently with sqlite3."""
import os

from conftest import sqlite_rows
from helpers_registry import STAGE_ID, TS_RE, ok, one, q, read, stage_files


TUTORIAL = r"""
set -e -o pipefail
# Scaffold a project and an iteration
mkdir "projects/Fraud detection"
p="projects/Fraud detection"
mkdir "$p/experiments/DT sweep"
exp="$p/experiments/DT sweep"
a=$(cat "$exp/iterations/new")
echo 7 > "$exp/iterations/$a/params/max_depth"
echo 0.96 >> "$exp/iterations/$a/metrics/accuracy"

# Save the trained model bytes as a resource
head -c 1024 /dev/urandom > "$WORK/fraud-clf.jlso"
cp "$WORK/fraud-clf.jlso" "$exp/resources/fraud-clf.jlso"

# Register the model
mkdir "$p/models/fraud-classifier"
m=models/fraud-classifier
echo "Fraud classifier" > "$m/description"

# Register a version: one command prints its number
va=$(cat "$m/versions/new/$a:fraud-clf.jlso")
echo "Decision tree, max_depth=7" > "$m/versions/$va/description"
stage_a0=$(cat "$m/versions/$va/stage")
echo STAGING > "$m/versions/$va/stage"
stage_a1=$(cat "$m/versions/$va/stage")
staging_link=$(readlink "$m/staging")
echo PRODUCTION > "$m/versions/$va/stage"
stage_a2=$(cat "$m/versions/$va/stage")
prod_a=$(readlink "$m/production")
[ ! -e "$m/staging" ] && [ ! -L "$m/staging" ] && no_staging=yes || no_staging=no

# Roll forward to a new checkpoint
b=$(cat "$exp/iterations/new")
echo 9 > "$exp/iterations/$b/params/max_depth"
echo 0.974 >> "$exp/iterations/$b/metrics/accuracy"
head -c 1024 /dev/urandom > "$WORK/fraud-clf-v2.jlso"
cp "$WORK/fraud-clf-v2.jlso" "$exp/resources/fraud-clf-v2.jlso"
vb=$(cat "$m/versions/new/$b:fraud-clf-v2.jlso")
echo "Decision tree, max_depth=9" > "$m/versions/$vb/description"
echo PRODUCTION > "$m/versions/$vb/stage"

# Browsing the registry: the production version, and its lineage
prod=$(readlink "$m/production")
prod_number=$(basename "$prod")
prod_depth=$(cat "$m/production/iteration/params/max_depth")
prod_iteration=$(basename "$(readlink "$m/production/iteration")")
for v in $(ls "$m/versions" | sort -n); do
    echo "stage $v $(cat "$m/versions/$v/stage")"
done
cat <<EOF
a=$a b=$b va=$va vb=$vb
stage_a0=$stage_a0 stage_a1=$stage_a1 stage_a2=$stage_a2
staging_link=$staging_link prod_a=$prod_a no_staging=$no_staging
prod=$prod prod_number=$prod_number prod_depth=$prod_depth prod_iteration=$prod_iteration
EOF
"""


def parse(out):
    vals, stages = {}, {}
    for line in out.splitlines():
        if line.startswith("stage "):
            _, n, s = line.split(" ")
            stages[int(n)] = s
            continue
        for word in line.split(" "):
            k, _, v = word.partition("=")
            vals[k] = v
    return vals, stages


def test_tutorial(mnt):
    work = os.path.join(mnt.root, "work")
    os.mkdir(work)
    r = ok(mnt, "export WORK='%s'\n%s" % (work, TUTORIAL))
    v, stages = parse(r)

    # Version numbers start at 1 and follow each other; lifecycle as the seed describes.
    assert (v["va"], v["vb"]) == ("1", "2")
    assert (v["stage_a0"], v["stage_a1"], v["stage_a2"]) == ("NO_STAGE", "STAGING",
                                                             "PRODUCTION")
    assert v["staging_link"] == "versions/1"
    assert v["prod_a"] == "versions/1"
    assert v["no_staging"] == "yes"                  # v1 left STAGING: no staging link
    # Promoting v2 archived v1 in the same step.
    assert stages == {1: "ARCHIVED", 2: "PRODUCTION"}
    assert v["prod"] == "versions/2" and v["prod_number"] == "2"
    # Lineage: the production version's iteration is b, whose max_depth is 9.
    assert v["prod_depth"] == "9"
    assert v["prod_iteration"] == v["b"]

    m = mnt.p("models", "fraud-classifier")
    # /models/<m> is a symlink to the owning project's model directory.
    assert os.readlink(m) == "../projects/Fraud detection/models/fraud-classifier"
    # `project` names the owning project (a file: a link to ../.. was a cycle)
    assert read(mnt, "models/fraud-classifier/project") == b"Fraud detection\n"
    assert sorted(os.listdir(m)) == ["aliases", "created", "description", "history",
                                     "model.yaml", "production", "project", "versions"]
    assert read(mnt, "models/fraud-classifier/description") == b"Fraud classifier\n"
    assert TS_RE.match(read(mnt, "models/fraud-classifier/created").decode().strip())

    exp = "projects/Fraud detection/experiments/DT sweep"
    for n, it, res, depth in ((1, v["a"], "fraud-clf.jlso", "7"),
                              (2, v["b"], "fraud-clf-v2.jlso", "9")):
        vd = os.path.join(m, "versions", str(n))
        assert os.readlink(os.path.join(vd, "iteration")) == \
            "../../../../experiments/DT sweep/iterations/" + it
        assert os.readlink(os.path.join(vd, "resource")) == \
            "../../../../experiments/DT sweep/resources/" + res
        assert read(mnt, "models/fraud-classifier/versions/%d/iteration/params/max_depth"
                    % n) == depth.encode() + b"\n"
        # the artifact is the resource's bytes, which are the file that was copied in
        with open(os.path.join(mnt.root, "work", res), "rb") as f:
            src = f.read()
        assert len(src) == 1024
        assert read(mnt, "models/fraud-classifier/versions/%d/artifact" % n) == src
        assert read(mnt, os.path.join(exp, "resources", res)) == src
        assert os.stat(os.path.join(vd, "artifact")).st_size == 1024
        assert read(mnt, "models/fraud-classifier/versions/%d/description" % n) == \
            ("Decision tree, max_depth=%s\n" % depth).encode()
        assert TS_RE.match(read(mnt, "models/fraud-classifier/versions/%d/created" % n)
                           .decode().strip())
        yaml = read(mnt, "models/fraud-classifier/versions/%d/version.yaml" % n).decode()
        assert "version: %d\n" % n in yaml
        assert "stage: %s\n" % ("ARCHIVED" if n == 1 else "PRODUCTION") in yaml
    assert stage_files(mnt, "fraud-classifier") == {1: "ARCHIVED", 2: "PRODUCTION"}
    assert os.path.samefile(os.path.join(m, "production"), os.path.join(m, "versions", "2"))

    # The same, independently, in the database.
    db = mnt.db
    model_id, project_id, desc = one(db, "SELECT id, project_id, description FROM model "
                                         "WHERE name = 'fraud-classifier'")
    assert one(db, "SELECT name FROM project WHERE id = %s" % project_id) == "Fraud detection"
    assert desc == "Fraud classifier"
    rows = sqlite_rows(db, "SELECT v.version, v.stage_id, v.description, v.iteration_id, "
                           "r.name, r.size_bytes, p.value FROM model_version v "
                           "JOIN resource r ON r.id = v.resource_id "
                           "JOIN parameter p ON p.iteration_id = v.iteration_id "
                           "AND p.key = 'max_depth' WHERE v.model_id = %s ORDER BY v.version"
                       % model_id)
    assert rows == [
        ["1", str(STAGE_ID["ARCHIVED"]), "Decision tree, max_depth=7", v["a"],
         "fraud-clf.jlso", "1024", "7"],
        ["2", str(STAGE_ID["PRODUCTION"]), "Decision tree, max_depth=9", v["b"],
         "fraud-clf-v2.jlso", "1024", "9"],
    ]
    acc = sqlite_rows(db, "SELECT iteration_id, value FROM metric WHERE key = 'accuracy' "
                          "ORDER BY iteration_id")
    assert [(i, float(x)) for i, x in acc] == [(v["a"], 0.96), (v["b"], 0.974)]
    # The seed's "production = filter(stage == PRODUCTION)": exactly one, version 2.
    assert sqlite_rows(db, "SELECT version FROM model_version WHERE model_id = %s AND "
                           "stage_id = %d" % (model_id, STAGE_ID["PRODUCTION"])) == [["2"]]
    assert one(db, "SELECT last_version FROM model WHERE id = %s" % model_id) == "2"
    # every resource's hash is the sha256 of what was copied in
    import hashlib
    for res in ("fraud-clf.jlso", "fraud-clf-v2.jlso"):
        with open(os.path.join(mnt.root, "work", res), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        assert one(db, "SELECT content_hash FROM resource WHERE name = %s" % q(res)) == digest
