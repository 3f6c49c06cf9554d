// FusionExperiments: the studies built on runs. Importing it brings FusionConfig, FusionTraining,
// FusionDeploy and FusionReports too (Exports.swift).
//
//   Comparison              `fusionlab compare`: variants × seeds, job-parallel under mpirun
//   Sweep                   `fusionlab sweep`: grid and random search on validation
//   Ensemble                averaged probabilities of finished runs
//   Robustness              `fusionlab robustness`: MultiBench's noise protocol per modality
//   ContinualUpdate         `fusionlab update`: new data and labels, rehearsal, LwF, lineage
//   Compression(+Pruning)   `fusionlab compress`: int8, magnitude and channel pruning, measured
//   NotebookExport          a run or comparison folder as a Jupyter notebook
