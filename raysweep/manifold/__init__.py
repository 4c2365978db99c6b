"""Manifolds the attacks, strategies and distances work on (Sec. 3.1-3.3): the FONTS true
manifold (true.py), learned VAE-GAN manifolds (learned.py, base.py the protocol), projections
onto them (projection_latent.py, projection_knn.py) and distances (distance.py); how a sweep's
learned manifolds are chosen (jobs.py) and shipped to trials (serving.py); how good a learned
manifold is (quality.py) and the lambda search's objective and bookkeeping (lambda_objective.py,
lambda_score.py)."""
