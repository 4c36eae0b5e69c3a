"""The DataLoader's batches: one process reads the batches the loop read before it existed (the seeded
order, in chunks of the batch size); N ranks read shards that make up the same global batches."""

import torch

from nas.training.loader import training_loader


def test_one_process_reads_the_seeded_order_in_batches(digits):
    loader, batches = training_loader(digits.x_train, digits.y_train, 32, workers=0, pin_memory=False)
    generator = torch.Generator().manual_seed(0)
    batches.new_epoch(generator)
    order = torch.randperm(len(digits.y_train), generator=torch.Generator().manual_seed(0))
    read = list(loader)
    assert len(read) == len(batches) == -(-len(order) // 32)
    for step, (images, labels) in enumerate(read):
        index = order[step * 32:(step + 1) * 32]
        assert torch.equal(images, torch.from_numpy(digits.x_train)[index])
        assert torch.equal(labels, torch.from_numpy(digits.y_train)[index])


def test_rank_shards_make_up_the_global_batches_also_with_workers(digits):
    count = 100  # the last global batch (4 samples) is split 2 + 2
    shards = []
    for rank in range(2):
        loader, batches = training_loader(digits.x_train[:count], digits.y_train[:count], 32, workers=1,
                                          pin_memory=False, rank=rank, world_size=2)
        batches.new_epoch(torch.Generator().manual_seed(3))
        shards.append([labels for _, labels in loader])
    order = torch.randperm(count, generator=torch.Generator().manual_seed(3))
    for step, (first, second) in enumerate(zip(*shards)):
        assert torch.equal(torch.cat([first, second]),
                           torch.from_numpy(digits.y_train[:count])[order[step * 32:(step + 1) * 32]])


def test_a_seeded_cpu_run_is_reproducible(tmp_path, digits):
    from nas.training.train import TrainingConfig, train_supernet
    from search_spaces import create_space

    space = create_space("vit", **digits.space_arguments(), embed_dim_choices=[16, 24], num_heads_choices=[1, 2])
    config = TrainingConfig(epochs=2, largest_only_fraction=0.5, threads=2, device="cpu", loader_workers=1)
    first, second = (train_supernet(space, digits, tmp_path / f"{n}.pt", config, progress=False) for n in (1, 2))
    for name, tensor in first["model"].items():
        assert torch.equal(tensor, second["model"][name]), name
    assert first["training"]["device_used"] == "cpu" and first["training"]["amp_dtype"] is None
