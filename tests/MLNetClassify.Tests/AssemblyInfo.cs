// ONNX Runtime already uses every core; test classes running side by side would only fight over them.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
