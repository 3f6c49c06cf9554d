/// The Python code cells of exported notebooks: reload the run and comparison CSV files with
/// pandas and redraw the embedded figures with matplotlib.
///
/// Files assumed (the run folder of README.md): `history.csv` with an `epoch` column and one column per logged
/// value; `predictions.csv` with `label` and `predicted` columns; `comparison.csv` with a
/// `variant` column and either one row per run with a column per metric, or one row per
/// variant with `<metric>_mean` / `<metric>_std` columns.
enum NotebookPython {
    static func runSetup(runDirectory: String) -> String {
        """
        from pathlib import Path

        import pandas as pd

        RUN_DIR = Path(\(pythonString(runDirectory)))  # relative to this notebook's folder
        """
    }

    static let loadHistory = """
        history = pd.read_csv(RUN_DIR / "history.csv")
        history
        """

    static let plotHistory = """
        import matplotlib.pyplot as plt

        fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(11, 4))
        history.plot(x="epoch", y=[c for c in history.columns if c.endswith("loss")], ax=loss_ax, marker="o", title="Loss per epoch")
        metrics = [c for c in history.columns if c.startswith(("train_", "val_")) and not c.endswith("loss")]
        if metrics:
            history.plot(x="epoch", y=metrics, ax=metric_ax, marker="o", title="Metrics per epoch")
        plt.tight_layout()
        """

    static let loadPredictions = """
        predictions = pd.read_csv(RUN_DIR / "predictions.csv")
        if {"label", "predicted"} <= set(predictions.columns):
            print(pd.crosstab(predictions["label"], predictions["predicted"], rownames=["true"], colnames=["predicted"]))
            try:
                from sklearn.metrics import classification_report
                print(classification_report(predictions["label"], predictions["predicted"], zero_division=0))
            except ImportError:
                pass
        predictions.head()
        """

    static func comparisonSetup(directory: String, runDirectories: [(String, String)], metric: String) -> String {
        let runs = runDirectories.map { "    \(pythonString($0.0)): Path(\(pythonString($0.1))),\n" }.joined()
        return """
            from pathlib import Path

            import pandas as pd

            COMPARISON_DIR = Path(\(pythonString(directory)))  # relative to this notebook's folder
            RUN_DIRS = {
            \(runs)}
            METRIC = \(pythonString(metric))
            comparison = pd.read_csv(COMPARISON_DIR / "comparison.csv")
            comparison
            """
    }

    static let plotComparison = """
        import matplotlib.pyplot as plt

        if METRIC in comparison:  # one row per run: aggregate over seeds
            summary = comparison.groupby("variant", sort=False)[METRIC].agg(["mean", "std"]).fillna(0)
        else:  # already aggregated: <metric>_mean / <metric>_std columns
            summary = comparison.set_index("variant").rename(columns={f"{METRIC}_mean": "mean", f"{METRIC}_std": "std"})
        ax = summary["mean"].plot.bar(yerr=summary.get("std"), capsize=4, title=f"{METRIC} (mean ± std)")
        ax.set_ylabel(METRIC)
        plt.tight_layout()
        summary
        """

    static let plotRunHistories = """
        histories = {name: pd.read_csv(path / "history.csv") for name, path in RUN_DIRS.items()}
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, history in histories.items():
            if "val_loss" in history:
                history.plot(x="epoch", y="val_loss", ax=ax, label=name)
        ax.set_title("Validation loss per epoch")
        plt.tight_layout()
        """
}
