// FusionServe: `fusionlab serve`.
//
//   Server         the Hummingbird app: routes, upload limits, metrics, SIGTERM drain
//   MicroBatcher   one model thread; requests batched within a wait window
