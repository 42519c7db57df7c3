"""clusters/: launcher YAMLs, KubeRay manifests, the RayService generator and the Grafana dashboard,
each checked against the schema of the tool that consumes it."""
from __future__ import annotations

import copy
import gzip
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import hydra_ray
from hydra_ray.placement import PROFILER_RESOURCE, ProfilerPlacement, profiler_actors

ray = pytest.importorskip("ray")
jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
CLUSTERS = ROOT / "clusters"
LAUNCHERS = {"aws": CLUSTERS / "aws.yaml", "gcp": CLUSTERS / "gcp.yaml"}
# KubeRay's own kinds (validated against its CRDs); shared-pvc.yaml is a core PersistentVolumeClaim.
KUBERAY_FILES = sorted(p for p in (CLUSTERS / "kuberay").glob("*.yaml") if p.name != "shared-pvc.yaml")


def _load_generate():
    spec = importlib.util.spec_from_file_location("clusters_generate", CLUSTERS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generate()


def launcher(name: str) -> dict:
    return yaml.safe_load(LAUNCHERS[name].read_text())


def ray_schema() -> dict:
    return json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


def node_types(cfg: dict) -> dict[str, dict]:
    return cfg["available_node_types"]


def worker_with(cfg: dict, resource: str) -> dict:
    found = [t for name, t in node_types(cfg).items() if name != cfg["head_node_type"]
             and t["resources"].get(resource, 0) > 0]
    assert len(found) == 1, f"expected one worker type with {resource}"
    return found[0]


# ---- Ray cluster launcher ------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LAUNCHERS))
def test_launcher_matches_ray_schema(name):
    cfg = launcher(name)
    jsonschema.validate(cfg, ray_schema())
    # What `ray up` does before it contacts the cloud: merge defaults, then validate again.
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(cfg)
    validate_config(prepare_config(copy.deepcopy(cfg)))


@pytest.mark.parametrize("name", sorted(LAUNCHERS))
def test_launcher_schema_rejects_typos(name):
    cfg = launcher(name)
    worker = worker_with(cfg, PROFILER_RESOURCE)
    worker["min_worker"] = worker.pop("min_workers")
    with pytest.raises(jsonschema.ValidationError, match="min_worker"):
        jsonschema.validate(cfg, ray_schema())


@pytest.mark.parametrize("name", sorted(LAUNCHERS))
def test_launcher_layout(name):
    cfg = launcher(name)
    head = node_types(cfg)[cfg["head_node_type"]]
    assert head["resources"] == {"CPU": 0}, "the head must not run tasks"
    prof, gpu = worker_with(cfg, PROFILER_RESOURCE), worker_with(cfg, "GPU")
    assert prof["resources"][PROFILER_RESOURCE] == prof["resources"]["CPU"], "one profiler slot per core"
    assert "GPU" not in prof["resources"]
    for t in (prof, gpu):
        assert t["min_workers"] == 0 < t["max_workers"], "workers autoscale from zero"
    assert cfg["max_workers"] == prof["max_workers"] + gpu["max_workers"]


def test_profiling_nodes_have_smt_off():
    """A vCPU is a core only with one thread per core; the advertised CPUs must equal the cores."""
    aws = worker_with(launcher("aws"), PROFILER_RESOURCE)
    cpu_opts = aws["node_config"]["CpuOptions"]
    assert cpu_opts["ThreadsPerCore"] == 1
    assert cpu_opts["CoreCount"] == aws["resources"]["CPU"]
    gcp = worker_with(launcher("gcp"), PROFILER_RESOURCE)
    assert gcp["node_config"]["advancedMachineFeatures"]["threadsPerCore"] == 1
    # c2-standard-16 = 8 cores x 2 threads.
    assert int(gcp["node_config"]["machineType"].rsplit("-", 1)[1]) // 2 == gcp["resources"]["CPU"]


@pytest.mark.parametrize("name", sorted(LAUNCHERS))
def test_launcher_nodes_run_the_image_and_install_nothing_unpublished(name):
    from ray.autoscaler._private.util import prepare_config

    cfg = launcher(name)
    assert cfg["docker"]["image"] == cfg["metadata"]["image_cpu"] == gen.image("cpu")
    assert cfg["metadata"]["image_gpu"] == gen.image("gpu")
    gpu = worker_with(cfg, "GPU")
    assert gpu["docker"]["worker_image"] == gen.image("gpu") and "--gpus all" in gpu["docker"]["worker_run_options"]
    assert "docker" not in worker_with(cfg, PROFILER_RESOURCE), "profiling nodes run the CPU image"
    prepared = prepare_config(copy.deepcopy(cfg))
    commands = [c for key in ("setup_commands", "head_setup_commands", "worker_setup_commands",
                              "initialization_commands") for c in prepared.get(key, [])]
    commands += [c for t in node_types(prepared).values() for c in t.get("worker_setup_commands", [])]
    assert not [c for c in commands if "hydra-ray" in c or "hydra_ray" in c], commands


def test_launcher_storage_is_a_bucket_of_that_cloud():
    assert launcher("aws")["metadata"]["storage_path"].startswith("s3://")
    assert launcher("gcp")["metadata"]["storage_path"].startswith("gs://")


@pytest.mark.parametrize("name", sorted(LAUNCHERS))
def test_placement_fills_a_full_profiling_fleet(name):
    """At max scale: max_workers nodes x profiler slots each = that many actors, one slot each."""
    prof = worker_with(launcher(name), PROFILER_RESOURCE)
    full = {k: float(v) * prof["max_workers"] for k, v in prof["resources"].items()}
    plan = profiler_actors(full)
    assert plan.uses_profiler
    assert plan.count == prof["max_workers"] * prof["resources"][PROFILER_RESOURCE]
    head_only = profiler_actors({}, ProfilerPlacement(mode="require", num_actors=plan.count))
    assert head_only.options == plan.options


# ---- KubeRay manifests ---------------------------------------------------------------------------

def test_shared_volume_is_the_claim_every_pod_that_writes_outputs_mounts():
    """Job drivers (head) write outputs and training workers (gpu group) checkpoints under /mnt/shared;
    a RayJob's cluster is deleted after the job, so that must be a ReadWriteMany claim."""
    pvc = yaml.safe_load((CLUSTERS / "kuberay" / "shared-pvc.yaml").read_text())
    assert pvc["kind"] == "PersistentVolumeClaim" and pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    spec = gen.load_cluster_spec()
    groups = {"head": spec["headGroupSpec"], **{g["groupName"]: g for g in spec["workerGroupSpecs"]}}
    for name in ("head", "gpu"):
        pod = groups[name]["template"]["spec"]
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert claims == {"shared": pvc["metadata"]["name"]} and mounts == {"shared": "/mnt/shared"}, name
    for job in ("enrich", "train"):
        entry = yaml.safe_load((CLUSTERS / "kuberay" / f"rayjob-{job}.yaml").read_text())["spec"]["entrypoint"]
        assert f"--output {gen.SHARED_DIR}/" in entry and gen.SHARED_DIR.startswith("/mnt/shared/")


def test_kuberay_files_present():
    names = {p.name for p in KUBERAY_FILES}
    assert {"raycluster.yaml", "rayjob-enrich.yaml", "rayjob-train.yaml"} <= names


@pytest.mark.parametrize("path", KUBERAY_FILES, ids=lambda p: p.name)
def test_kuberay_manifest_matches_crd_schema(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        assert gen.validate_manifest(doc) == []


@pytest.mark.parametrize("mutate, expect", [
    (lambda s: s["workerGroupSpecs"][0].__setitem__("minReplica", 0), "minReplica"),
    (lambda s: s["workerGroupSpecs"][1]["template"]["spec"]["containers"][0].__setitem__("imagee", "x"), "imagee"),
    (lambda s: s["headGroupSpec"]["rayStartParams"].__setitem__("num-cpus", 0), "not of type 'string'"),
    (lambda s: s["workerGroupSpecs"][0].pop("groupName"), "groupName"),
])
def test_kuberay_validation_catches_mistakes(mutate, expect):
    doc = yaml.safe_load((CLUSTERS / "kuberay" / "raycluster.yaml").read_text())
    mutate(doc["spec"])
    problems = gen.validate_manifest(doc)
    assert any(expect in p for p in problems), problems


def test_kuberay_validation_rejects_bad_names_and_kinds():
    doc = yaml.safe_load((CLUSTERS / "kuberay" / "raycluster.yaml").read_text())
    assert any("metadata.name" in p for p in gen.validate_manifest({**doc, "metadata": {"name": "Hydra_Ray"}}))
    assert any("kind" in p for p in gen.validate_manifest({**doc, "kind": "RayThing"}))


def test_raycluster_layout():
    doc = yaml.safe_load((CLUSTERS / "kuberay" / "raycluster.yaml").read_text())
    spec = doc["spec"]
    assert spec["rayVersion"] == ray.__version__
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    prof, gpu = groups["profiler"], groups["gpu"]
    prof_limits = prof["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert prof["resources"][PROFILER_RESOURCE] == prof_limits["cpu"], "one profiler slot per CPU"
    assert gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    for g in (prof, gpu):
        assert g["minReplicas"] == 0 < g["maxReplicas"]
    images = [c["image"] for grp in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
              for c in grp["template"]["spec"]["containers"]]
    assert images == [gen.image("cpu"), gen.image("cpu"), gen.image("gpu")], images   # head, profiler, gpu


# ---- the cluster image ---------------------------------------------------------------------------

def dockerfile_args() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text()
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))


def test_dockerfile_and_manifests_name_the_same_image_and_tag():
    text = (ROOT / "Dockerfile").read_text()
    args = dockerfile_args()
    assert args["RAY_VERSION"] == gen.RAY_VERSION == ray.__version__
    assert args["PYTHON"] == gen.PYTHON_TAG == f"py{sys.version_info.major}{sys.version_info.minor}"
    assert args["HYDRA_RAY_VERSION"] == gen.HYDRA_RAY_VERSION == hydra_ray.__version__
    assert args["IMAGE"] == gen.IMAGE_REPO and args["VARIANT"] == "cpu"
    assert "FROM rayproject/ray:${RAY_VERSION}-${PYTHON}-${VARIANT}" in text
    assert 'org.opencontainers.image.ref.name="${IMAGE}:${HYDRA_RAY_VERSION}-ray${RAY_VERSION}-${PYTHON}-${VARIANT}"' in text
    assert f"WORKDIR {gen.APP_DIR}" in text
    for variant in ("cpu", "gpu"):   # the tag each `docker build` line in the Dockerfile's header builds
        build_arg = "--build-arg VARIANT=gpu " if variant == "gpu" else ""
        assert re.search(rf"docker build\s+{re.escape(build_arg)}\s*-t {re.escape(gen.image(variant))} \.", text), variant
    # Every image any manifest names is one of the two tags.
    named: list[str] = []
    for path in [*LAUNCHERS.values(), *KUBERAY_FILES]:
        named += re.findall(r"(?:image|worker_image|image_cpu|image_gpu): (?:&\w+ )?(\S+)", path.read_text())
    rendered = gen.render_rayservice(PRESET)
    named += [c["image"] for g in [rendered["spec"]["rayClusterConfig"]["headGroupSpec"],
                                   *rendered["spec"]["rayClusterConfig"]["workerGroupSpecs"]]
              for c in g["template"]["spec"]["containers"]]
    named = [n for n in named if not n.startswith("*")]
    assert named and set(named) == {gen.image("cpu"), gen.image("gpu")}, sorted(set(named))


def test_no_default_path_pip_installs_the_unpublished_package():
    pattern = re.compile(r"pip install[^\n]*hydra-ray|\"pip\":\s*\[\"hydra-ray|- hydra-ray==|SOURCE_ARCHIVE")
    for path in [*LAUNCHERS.values(), *KUBERAY_FILES, CLUSTERS / "generate.py"]:
        assert not pattern.search(path.read_text()), path.name
    with pytest.raises(gen.GenerateError, match="'cpu' or 'gpu'"):
        gen.image("tpu")


def test_rayjobs_are_generated_and_up_to_date():
    rendered = gen.rendered_rayjobs()
    assert {p.name for p in rendered} == {"rayjob-enrich.yaml", "rayjob-train.yaml"}
    for path, text in rendered.items():
        assert path.read_text() == text, f"{path.name} is stale: run python clusters/generate.py rayjobs"


def test_rayjobs_run_the_commands_on_the_shared_cluster_spec():
    cluster = gen.load_cluster_spec()
    for command in ("enrich", "train"):
        doc = yaml.safe_load((CLUSTERS / "kuberay" / f"rayjob-{command}.yaml").read_text())
        assert f"hydra-ray {command} --input " in doc["spec"]["entrypoint"]
        assert doc["spec"]["rayClusterSpec"] == cluster
        # hydra-ray and its presets come with the image: no pip install, no source archive at start.
        assert "runtimeEnvYAML" not in doc["spec"] and "CHANGE-ME/hydra-ray/archive" not in yaml.safe_dump(doc)
        assert doc["spec"]["entrypoint"].startswith(f"cd {gen.APP_DIR} && ")
        assert f"--config configs/{command}/cluster.yaml" in doc["spec"]["entrypoint"]


# ---- RayService from a serve preset --------------------------------------------------------------

PRESET = {
    "proxy_location": "EveryNode",
    "applications": [{
        "name": "hydra-ray",
        "route_prefix": "/",
        "import_path": "hydra_ray.serve.app:build",
        "args": {"model": "/models/policy", "weights": [0.2, 0.2, 0.2, 0.2, 0.2]},
    }],
}


def test_rayservice_from_preset_matches_crd_and_serve_schema():
    from ray.serve.schema import ServeDeploySchema

    doc = gen.render_rayservice(PRESET)
    assert gen.validate_manifest(doc) == []
    serve_cfg = yaml.safe_load(doc["spec"]["serveConfigV2"])
    parsed = ServeDeploySchema.model_validate(serve_cfg)
    app = parsed.applications[0]
    assert (app.name, app.route_prefix, app.import_path) == ("hydra-ray", "/", "hydra_ray.serve.app:build")
    assert app.args == PRESET["applications"][0]["args"]
    assert not app.runtime_env, "hydra-ray is in the image: nothing is pip-installed at start"
    assert doc["spec"]["rayClusterConfig"] == gen.load_cluster_spec()
    assert "runtime_env" not in PRESET["applications"][0], "the preset must not be modified"


def test_rayservice_keeps_an_explicit_runtime_env():
    preset = copy.deepcopy(PRESET)
    preset["applications"][0]["runtime_env"] = {"pip": ["hydra-ray==9.9.9"]}
    cfg = yaml.safe_load(gen.render_rayservice(preset)["spec"]["serveConfigV2"])
    assert cfg["applications"][0]["runtime_env"] == {"pip": ["hydra-ray==9.9.9"]}


@pytest.mark.parametrize("mutate, expect", [
    (lambda p: p["applications"][0].__setitem__("route_prefx", "/x"), "did you mean 'route_prefix'"),
    (lambda p: p.__setitem__("aplications", []), "aplications"),
    (lambda p: p["applications"][0].__setitem__("deployments", [{"name": "G", "num_replica": 2}]),
     "deployments[0].num_replica"),
    (lambda p: p["applications"][0].__setitem__("import_path", "nodots"), "import path"),
    (lambda p: p.__setitem__("applications", []), "non-empty"),
])
def test_rayservice_rejects_bad_presets(mutate, expect):
    preset = copy.deepcopy(PRESET)
    mutate(preset)
    with pytest.raises(gen.GenerateError) as err:
        gen.render_rayservice(preset)
    assert expect in str(err.value)


def test_generate_cli_renders_and_validates(tmp_path):
    preset = tmp_path / "serve.yaml"
    preset.write_text(yaml.safe_dump(PRESET))
    out = subprocess.run([sys.executable, str(CLUSTERS / "generate.py"), "rayservice", str(preset),
                          "--name", "hydra-ray-test"], capture_output=True, text=True, check=True)
    manifest = tmp_path / "rayservice.yaml"
    manifest.write_text(out.stdout)
    assert out.stdout.startswith("# Generated by")
    assert yaml.safe_load(out.stdout)["metadata"]["name"] == "hydra-ray-test"
    ok = subprocess.run([sys.executable, str(CLUSTERS / "generate.py"), "validate", str(manifest)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(out.stdout.replace("serveConfigV2:", "serveConfigV3:"))
    bad = subprocess.run([sys.executable, str(CLUSTERS / "generate.py"), "validate", str(broken)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "serveConfigV3" in bad.stderr


def test_rayservice_names_relative_paths_the_pods_will_not_find(tmp_path):
    """A RayService's replicas run in the image's /opt/hydra-ray, which holds hydra_ray/ and configs/
    only: a preset's runs/train-tiny is not there. Bundled data and hub ids are."""
    def notes(preset):
        return subprocess.run([sys.executable, str(CLUSTERS / "generate.py"), "rayservice", str(preset)],
                              capture_output=True, text=True, cwd=ROOT)

    local = notes(ROOT / "configs" / "serve" / "tiny-cpu.yaml")
    assert local.returncode == 0 and "kind: RayService" in local.stdout
    assert ("note: applications[0].args.model.training_output is the relative path 'runs/train-tiny': pods "
            "resolve it under /opt/hydra-ray") in local.stderr, local.stderr
    for fine in ("recorded-demo.yaml", "qwen2.5-coder-7b-gpu.yaml"):   # a bundled recording; absolute paths
        assert notes(ROOT / "configs" / "serve" / fine).stderr == "", fine
    preset = yaml.safe_load((ROOT / "configs" / "serve" / "tiny-cpu.yaml").read_text())
    args = preset["applications"][0]["args"]
    args["model"] = {"training_output": "s3://bucket/train", "base": "Qwen/Qwen2.5-Coder-7B-Instruct"}
    args["reward"] = {"labeler": "runs/labelled/labeler.json"}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(preset))
    mixed = notes(tmp_path / "p.yaml").stderr
    assert "reward.labeler is the relative path 'runs/labelled/labeler.json'" in mixed
    assert "training_output" not in mixed and "model.base" not in mixed, mixed


SERVE_PRESETS = sorted((ROOT / "configs" / "serve").glob("*.yaml"))


@pytest.mark.skipif(not SERVE_PRESETS, reason="configs/serve/ has no presets yet")
@pytest.mark.parametrize("path", SERVE_PRESETS, ids=lambda p: p.name)
def test_every_serve_preset_renders_a_valid_rayservice(path):
    assert gen.validate_manifest(gen.render_rayservice(yaml.safe_load(path.read_text()))) == []


# ---- vendored schemas ----------------------------------------------------------------------------

def test_vendored_schemas_are_small_and_traceable():
    readme = (CLUSTERS / "kuberay" / "schemas" / "README.md").read_text()
    assert re.search(r"KubeRay tag `v\d+\.\d+\.\d+`", readme)
    assert re.search(r"commit `[0-9a-f]{40}`", readme)
    expected = {"raycluster": "headGroupSpec", "rayjob": "rayClusterSpec", "rayservice": "serveConfigV2"}
    for kind, field in expected.items():
        path = CLUSTERS / "kuberay" / "schemas" / f"{kind}-v1.json.gz"
        assert path.stat().st_size < 64 * 1024
        schema = json.loads(gzip.decompress(path.read_bytes()))
        assert field in schema["properties"]["spec"]["properties"]


# ---- Grafana dashboard ---------------------------------------------------------------------------

# name -> (type, labels): the names the lead exports with ray.util.metrics (Ray adds the ray_ prefix).
METRICS = {
    "hydra_enrich_pairs_total": ("counter", ()),
    "hydra_enrich_verdicts_total": ("counter", ("verdict",)),
    "hydra_enrich_rejected_total": ("counter", ("reason",)),
    "hydra_enrich_measurement_rel_spread": ("histogram", ()),
    "hydra_train_loss": ("gauge", ()),
    "hydra_train_alpha": ("gauge", ("region",)),
    "hydra_train_region_loss": ("gauge", ("region",)),
    "hydra_train_step_seconds": ("histogram", ()),
    "hydra_serve_requests_total": ("counter", ("route", "status")),
    "hydra_serve_candidate_verdicts_total": ("counter", ("verdict",)),
    "hydra_serve_generation_seconds": ("histogram", ()),
    "hydra_serve_generation_cancelled_total": ("counter", ()),
    "hydra_serve_sandbox_seconds": ("histogram", ()),
}
_REF = re.compile(r"\bray_(hydra_[a-z_]+?)(_bucket|_sum|_count)?\b(?![a-z_])")


def dashboard() -> dict:
    return json.loads((CLUSTERS / "grafana" / "hydra-ray.json").read_text())


def query_panels() -> list[dict]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def test_dashboard_queries_reference_only_known_metrics():
    seen = set()
    for panel in query_panels():
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            refs = _REF.findall(expr)
            assert refs, f"{panel['title']}: {expr!r} names no hydra metric"
            for name, suffix in refs:
                assert name in METRICS, f"{panel['title']}: unknown metric {name!r}"
                kind, labels = METRICS[name]
                if suffix:
                    assert kind == "histogram", f"{name}{suffix}: only histograms have {suffix}"
                elif kind == "histogram":
                    pytest.fail(f"{panel['title']}: histogram {name} used without _bucket/_sum/_count")
                if kind == "counter":
                    assert re.search(rf"(rate|increase)\(ray_{name}\[", expr), f"{expr}: counters need rate()"
                for group in re.findall(r"by \(([^)]*)\)", expr):
                    used = {g.strip() for g in group.split(",")}
                    allowed = set(labels) | ({"le"} if suffix == "_bucket" else set())
                    assert used <= allowed, f"{expr}: labels {used - allowed} not on {name}"
                seen.add(name)
    assert seen == set(METRICS), f"metrics without a panel: {sorted(set(METRICS) - seen)}"


def test_dashboard_reference_check_can_fail():
    assert _REF.findall("rate(ray_hydra_enrich_pairs_totl[5m])") == [("hydra_enrich_pairs_totl", "")]
    assert "hydra_enrich_pairs_totl" not in METRICS


def test_dashboard_structure():
    dash = dashboard()
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert dash["uid"] and dash["title"]
    assert [v["name"] for v in dash["templating"]["list"]] == ["datasource"]
    boxes = [(p["gridPos"], p["title"]) for p in dash["panels"]]
    for i, (a, ta) in enumerate(boxes):
        assert a["x"] + a["w"] <= 24
        for b, tb in boxes[i + 1:]:
            overlap = (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
                       and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])
            assert not overlap, f"panels {ta!r} and {tb!r} overlap"
    for panel in query_panels():
        assert panel["datasource"]["uid"] == "${datasource}"


def test_readme_metric_table_matches():
    text = (CLUSTERS / "README.md").read_text()
    rows = re.findall(r"^\| `(hydra_[a-z_]+)` \| (\w+) \| ([^|]*)\|", text, re.M)
    table = {name: (kind, tuple(re.findall(r"`(\w+)`", labels))) for name, kind, labels in rows}
    assert table == METRICS
