"""Samplers and seeding: resumable distributed sampling and reproducible augmentations."""

from ssl_data.sampling.distributed_sampler import StatefulDistributedSampler
from ssl_data.sampling.seeding import per_sample_uniforms, sample_seed, seeded_rngs, worker_init_fn

__all__ = ["StatefulDistributedSampler", "per_sample_uniforms", "sample_seed", "seeded_rngs", "worker_init_fn"]
