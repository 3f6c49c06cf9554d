// The studies build on the experiment format, training and deployment; a client importing
// FusionExperiments sees them all, with the reports.
@_exported import FusionConfig
@_exported import FusionCore
@_exported import FusionDeploy
@_exported import FusionReports
@_exported import FusionTraining
