"""Token shards: documents -> Megatron-LM ``IndexedDataset`` files, manifest and blend."""
