"""Reads an experiment's runs back through MLflow's own client, as JSON on stdout.

    python scripts/check_mlflow.py <tracking uri> <experiment name>

Needs the `mlflow` package (scripts/fetch-python-tools.sh mlflow mlflow==3.17.2). The Swift test
MLflowTests starts a real `mlflow server`, trains with --mlflow and checks this script's output.
"""
import json
import sys

from mlflow.tracking import MlflowClient


def artifacts(client, run_id, path=None):
    out = []
    for item in client.list_artifacts(run_id, path):
        out += artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return out


def main(uri, name):
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        sys.exit(f"no experiment {name!r} at {uri}")
    runs = []
    for run in client.search_runs([experiment.experiment_id]):
        history = {key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)] for key in run.data.metrics}
        runs.append({
            "run_id": run.info.run_id, "run_name": run.info.run_name, "status": run.info.status,
            "params": run.data.params, "tags": {k: v for k, v in run.data.tags.items()},
            "metrics": history, "artifacts": sorted(artifacts(client, run.info.run_id)),
        })
    print(json.dumps({"experiment_id": experiment.experiment_id, "runs": runs}, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
