// FusionReports: what a researcher reads, from plain values. It knows nothing of training.
//
//   Metrics                       accuracy, per-class precision/recall/F1, confusion matrices
//   ComparisonReport              comparison.csv/.md/.json
//   Notebook, NotebookCells,      nbformat 4.5 notebooks with SVG figures
//   NotebookJSON, NotebookPython
//   SVGDocument, SVGCharts        hand-written SVG charts
//   TensorBoard, TensorBoardHParams, EventProtobuf, CRC32C   TensorBoard event files
//   MLflow                        MLflow tracking REST client; ScalarLog, TrainingLogs (where scalars go)
//   ReportFiles                   report file names and writing
