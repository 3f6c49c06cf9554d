"""Golden bytes of TensorBoard's HParams plugin data, written with TensorBoard's own protos.

    python scripts/golden/hparams_goldens.py      # needs the tensorboard package

Prints the hex strings that Tests/FusionReportsTests/TensorBoardTests.swift
(testHParamsPluginDataMatchesTensorBoardsProtos) compares FusionLab's hand-written encoding with.
"""
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

experiment = plugin_data_pb2.HParamsPluginData(experiment=api_pb2.Experiment(
    hparam_infos=[api_pb2.HParamInfo(name="model.fusion.kind", type=api_pb2.DATA_TYPE_STRING),
                  api_pb2.HParamInfo(name="seed", type=api_pb2.DATA_TYPE_FLOAT64)],
    metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag="test/accuracy")),
                  api_pb2.MetricInfo(name=api_pb2.MetricName(tag="test/f1_macro"))]))
start_info = plugin_data_pb2.SessionStartInfo(group_name="fusion=concat", start_time_secs=1700000000.5)
start_info.hparams["model.fusion.kind"].string_value = "concat"
start_info.hparams["seed"].number_value = 1.0
start_info.hparams["x.flag"].bool_value = True
start = plugin_data_pb2.HParamsPluginData(session_start_info=start_info)
end = plugin_data_pb2.HParamsPluginData(session_end_info=plugin_data_pb2.SessionEndInfo(
    status=api_pb2.STATUS_SUCCESS, end_time_secs=1700000100.25))
for name, message in [("experiment", experiment), ("start", start), ("end", end)]:
    print(name, message.SerializeToString(deterministic=True).hex())
value = summary_pb2.Summary.Value(tag=metadata.EXPERIMENT_TAG, tensor=metadata.NULL_TENSOR,
                                  metadata=metadata.create_summary_metadata(experiment))
event = event_pb2.Event(wall_time=1700000000.5, summary=summary_pb2.Summary(value=[value]))
print("event", event.SerializeToString(deterministic=True).hex())
