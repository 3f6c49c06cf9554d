// FusionTraining: one run, from a configuration to a finished run folder.
//
//   ExperimentRunner        run, resume and load a run; records its status (SIGINT/SIGTERM: interrupted)
//   RunDirectory            the run folder: config.resolved.json, history.csv, checkpoints/, TensorBoard events;
//   RunManifest             manifest.json typed (RunStatus, RunFile names), old manifests still read
//   ExperimentData          the dataset, feature caches, tokenizer and loaders a run trains on
//   Trainer                 `fit`: a short loop over the epochs; evaluation and predictions
//   Tracking                where a run's scalars go: TensorBoard, and with --mlflow an MLflow run
//   TrainingSteps           the step runners: one process, or data-parallel (all-reduce in TrainerSupport)
//   TrainerEpoch            an epoch's start, batches, record and files; the test of the best weights
//   BestSelection           which epoch is kept, and the patience early stopping reads
//   FrozenPrefixCache       a frozen encoder prefix computed once per sample
//   Transfer                init_from, freezing by pattern, LR multipliers, gradual unfreezing
//   Distillation            teacher targets from finished runs
//   TrainingNoise           training.noise: the robustness protocol's corruptions on training batches
//   ResumeState, RunWeights resume after the last finished epoch; what a checkpoint holds
//   JobQueue                job-parallel runs under mpirun, exclusive folder creation
//   DefaultDataset          the generated default dataset
//   Progress                console progress, log levels, the log handler
