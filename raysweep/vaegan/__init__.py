"""The VAE-GAN that approximates class manifolds (supplement B.2), in one home:

config.py (VAEGANConfig, the paper's epochs and lambdas), network.py (encoder, decoder,
discriminator), losses.py (Eq. 7-9 and one step), schedule.py (optimiser steps and lr decay),
train.py (the training loop), collapse.py (posterior collapse and its restart), checkpoint.py
(the one checkpoint format, through raysweep._core.storage), job.py (one model to train and where it
lives). What a trained model is worth as a manifold (its quality, the lambda search's objective)
and serving it to attacks is raysweep.manifold's; Ray glue is raysweep.tune.
"""
