// FusionOptim: optimizers over parameter groups and learning-rate schedules.
//
//   Optimizer   SGD, Adam, AdamW; parameter groups, gradient clipping, optimizer state for resume
//   Schedules   constant, step, cosine and warm-up schedules
