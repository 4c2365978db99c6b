"""The VAE-GAN that approximates class manifolds (supplement B.2), in one home:

config.py (VAEGANConfig, the paper's epochs and lambdas), network.py (encoder, decoder,
discriminator), losses.py (Eq. 7-9 and one step), train.py (the training loop), checkpoint.py
(the one checkpoint format, through raysweep.storage), job.py (one model to train and where it
lives), quality.py (scores of a trained model), lambda_score.py (one lambda's objective).
Serving trained models to attacks is raysweep.manifold.learned; Ray glue is raysweep.tune.
"""
