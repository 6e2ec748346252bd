"""The coverage of the course notes: every checkable claim of the five notes (a statement with a formula or a
property that can be verified; definitions, notation and prose are not counted), with its lines and what
checks it.

An item's status is computed, never stored: *refuted* when a claim of proofs.notes at its lines is refuted (or
the line is a slip listed in NOT_EXPRESSIBLE, a mistake found by reading), *checked* when the claims at its
lines are verified or the proofs it names pass, *partly* when they do but the item names what they leave out,
*not covered* when nothing checks it (the item says why). A proof title that no proof carries is an error
(tests/test_coverage.py), so the table cannot point at a proof that is gone.
"""
from __future__ import annotations

from dataclasses import dataclass

from .claims import REFUTED, VERIFIED

STATUSES = ("checked", "refuted", "partly", "not covered")


@dataclass(frozen=True)
class Item:
    file: str
    lines: tuple[int, ...]
    what: str  # the claim, in words
    proofs: tuple[str, ...] = ()  # titles of the proofs that check it
    missing: str = ""  # what the claims and proofs leave out (partly), or why nothing checks it (not covered)
    kinds: tuple[str, ...] = ()  # only the notes' claims of these kinds at the lines (default: all of them)
    slip: bool = False  # the slip listed for this line in NOT_EXPRESSIBLE makes the claim wrong as written


def _i(file: str, lines, what: str, *proofs: str, missing: str = "", kinds: tuple[str, ...] = (),
       slip: bool = False) -> Item:
    return Item(file, tuple(lines) if isinstance(lines, (tuple, list)) else (lines,), what, tuple(proofs), missing,
                kinds, slip)


# proof titles used more than once
_DF_GE0, _DFP = "D_f >= 0", "D_f >= f(1) for every catalogue f, with equality iff p = q"
_DF_ZERO = "D_f = 0 iff P = Q, for f strictly convex at 1"
_KL_GE0 = "KL >= 0 via log x <= x - 1, with equality iff p = q"
_VARREP = "Variational representation: D_f = sup over critics, attained at T* = f'(p/q)"
_WLLN = "Weak law of large numbers: the Monte Carlo estimate converges in probability"
_BOUND, _BOUND_ALL = "Variational lower bound", "Variational bound for every catalogue f"
_CONJ_KL = "Conjugate of kl: Fenchel-Young, equality at T*, f** = f"
_CONJ_ALL = tuple(f"Conjugate of {name}: Fenchel-Young, equality at T*, f** = f" for name in (
    "total-variation", "kl", "reverse-kl", "pearson", "neyman", "squared-hellinger", "jeffrey", "jensen-shannon", "jsd",
    "js-weighted", "gan", "alpha", "triangular", "kl-normalised", "reverse-kl-normalised"))
_MC = "Monte Carlo estimator: unbiased, variance sigma^2/T"
_CLIP = "WGAN weight clipping: a clipped critic is Lipschitz"
_GP = "WGAN-GP: the optimal critic has slope 1 between coupled points"
_GAN_ROW = "The GAN row of VDM is the GAN objective"
_DSTAR = "Optimal discriminator D* = p/(p+q)"
_VSTAR = "V(G, D*) = 2 JSD - log 4, and min_G max_D V = -log 4"
_VANISH = "Minimax generator gradient vanishes, non-saturating does not"
_CHAIN = "Chain rule: the product of the conditionals is the joint"
_KL_ASYM = "KL is not symmetric"
_WGAN = "WGAN on two Gaussians with equal variances: the optimal critic, the GP and the generator"
_IWAE_UNBIASED = "IWAE: the mean weight is unbiased for p(x)"
_CATALOGUE_ONLY = "checked for each catalogue f (f* convex and f** = f), not for a general convex f (Fenchel-Moreau)"
_STRONG_LLN = ("the weak law (convergence in probability, from the variance sigma^2/n) is proved; the strong law "
               "(almost sure convergence) is not")

ITEMS: list[Item] = [
    # ------------------------------------------------------------------------------------------------ 000
    _i("000", 136, "D_f >= 0 for any f", _DF_GE0, _DFP),
    _i("000", 137, "D_f(P||P) = 0", "D_f(P||P) = 0"),
    _i("000", (141, 143, 145), "f(u) = u log u gives KL", "KL as an f-divergence"),
    _i("000", 147, "KL is not symmetric", _KL_ASYM),
    _i("000", 154, "the JS f", "JS (1/2 convention) as an f-divergence"),
    _i("000", 158, "the total-variation f", "Total variation as an f-divergence"),
    _i("000", 185, "law of large numbers: (1/n) sum h(x_i) -> E h", _MC, _WLLN),
    _i("000", 213, "f* is convex", *_CONJ_ALL, missing=_CATALOGUE_ONLY),
    _i("000", (215, 217), "f** = f, written f(u) = sup_t {-t u - f*(t)}"),
    _i("000", (225, 227, 229), "f(u) = sup_t {t u - f*(t)}, so D_f = integral of p_theta sup_t {t u - f*(t)}",
       *_CONJ_ALL, missing=_CATALOGUE_ONLY),
    _i("000", 233, "D_f = sup over critics T of the integral (the supremum moved outside)", _VARREP),
    _i("000", (243, 247, 249, 260), "D_f >= sup_T [E_P T - E_Q f*(T)]", _BOUND, _BOUND_ALL),
    _i("000", 318, "the GAN f: (u+1) log(u/(u+1))"),
    _i("000", 321, "the GAN conjugate f*(t) = -log(1 - e^t)", kinds=("conjugate",)),
    _i("000", 321, "dom f* = R-bar for the GAN conjugate", kinds=("domain",)),
    _i("000", 323, "the GAN activation g_f(v) = -log(1 + e^-v)"),
    _i("000", (328, 331), "the GAN objective E log D + E log(1 - D) with D = 1/(1 + e^-V)", _GAN_ROW),
    _i("000", 339, "E_P sigma_f(V) = E_P log(1/(1 + e^-V))"),
    _i("000", 340, "-f*(sigma_f(V)), written log(1/(1 + e^(-log(1/(1 + e^-V)))))"),
    _i("000", 341, "-f*(sigma_f(V)) = log(1 - 1/(1 + e^-V))"),
    _i("000", 342, "J_GAN = E log D + E log(1 - D)", _GAN_ROW),
    _i("000", 345, "J_GAN derived for f = u log u - (u+1) log(u+1)"),
    _i("000", (361, 463), "minibatch averages estimate the expectations", _MC),
    _i("000", 365, "discriminator update: ascent"),
    _i("000", 378, "generator update: descent"),
    _i("000", 392, "the optimisation over D(x) separates: each x on its own", _DSTAR),
    _i("000", 397, "d/dD of the pointwise objective"),
    _i("000", 401, "D(x) = sqrt(2)"),
    _i("000", 415, "generator update: descent"),
    _i("000", 456, "the vanilla GAN loss E_P log D + E_Ptheta[-log D]"),
    _i("000", 469, "the generator term log(1 - D(g_theta(x^_j)))", slip=True),
    _i("000", 477, "discriminator update: ascent"),
    _i("000", 509, "generator update: descent"),
    # ------------------------------------------------------------------------------------------------ 001
    _i("001", 59, "D_f >= max_T [E_p T - E_q f*(T)]", _BOUND, _BOUND_ALL),
    _i("001", 132, "the GAN f"),
    _i("001", 134, "the GAN f is 'similar to JSD': D_f = 2 JSD - log 4", _VSTAR),
    _i("001", 140, "the GAN conjugate f*(t) = -log(1 - exp(t))", kinds=("conjugate",)),
    _i("001", 140, "dom f* = R for the GAN conjugate", kinds=("domain",)),
    _i("001", 144, "the GAN activation"),
    _i("001", (150, 155, 159), "the VDM objective with sigma_f is the GAN objective with D = sigmoid(V)", _GAN_ROW),
    _i("001", 206, "minibatch averages estimate the expectations", _MC),
    _i("001", 222, "discriminator update: ascent"),
    _i("001", 240, "generator update: descent"),
    _i("001", 244, "generator loss -(1/B2) sum log(1 - D(g(z_j)))"),
    _i("001", 270, "discriminator update: ascent"),
    _i("001", 285, "generator loss -(1/B2) sum log(1 - D(g(z_j)))"),
    _i("001", 289, "generator update: descent"),
    _i("001", 300, "w <- w + alpha_1 J_D"),
    _i("001", 304, "theta <- theta - alpha_2 J_G"),
    _i("001", 316, "a too strong discriminator makes the generator's gradients vanish", _VANISH),
    # ------------------------------------------------------------------------------------------------ 002
    _i("002", (13, 321), "the JS conjugate f*(t) = -log(1 - e^t)", kinds=("conjugate",)),
    _i("002", 321, "dom f* = (-oo, 0) for the JS conjugate", kinds=("domain",)),
    _i("002", (53, 164, 166), "the non-saturating loss mitigates vanishing gradients", _VANISH),
    _i("002", (63, 174), "weight clipping or a gradient penalty enforces a 1-Lipschitz critic", _CLIP, _GP),
    _i("002", (78, 80), "a divergence with D >= 0 and D = 0 iff p_X = p_theta (JS)", _DF_GE0, _DF_ZERO, _DFP),
    _i("002", (101, 103), "f(u) = u ln u gives KL = integral of p ln(p/q)", "KL as an f-divergence"),
    _i("002", 109, "D_JS as an f-divergence", "JS (1/2 convention) as an f-divergence"),
    _i("002", (113, 116, 117), "D_f = sup_T {E_p T - E_q f*(T)} (variational representation)", _VARREP),
    _i("002", 148, "the optimal discriminator D* = p_X/(p_X + p_theta)", _DSTAR),
    _i("002", 153, "min_theta max_phi V = 2 D_JS - 2 ln 2"),
    _i("002", 155, "GAN training minimises the JS divergence", _VSTAR),
    _i("002", 197, "the Nash equilibrium exists (p_theta = p_X, D = 1/2)", _VSTAR),
    _i("002", (252, 253), "the KL and Pearson f's"),
    _i("002", 254, "the JS f u ln u - (u+1) ln((u+1)/2)"),
    _i("002", (263, 265), "the Monte Carlo average converges to I almost surely (LLN)", _MC, _WLLN,
       missing=_STRONG_LLN),
    _i("002", 276, "f(u) = sup_t {u t - f*(t)}", *_CONJ_ALL, missing=_CATALOGUE_ONLY),
    _i("002", (281, 283, 284), "D_f >= sup_T [E T - E f*(T)] by moving the supremum outside", _BOUND),
    _i("002", 287, "equality when T = f'(p_x/p_theta)", _VARREP, _BOUND_ALL),
    _i("002", 299, "(theta*, w*) = arg min_theta arg max_w J"),
    _i("002", 301, "at the optimum T_w* = f'(p_x/p_theta) and theta* minimises the divergence", _BOUND_ALL,
       missing="the pointwise optimum is checked per catalogue f; the joint optimum over (theta, w) is not"),
    _i("002", 311, "critic update: ascent"),
    _i("002", 312, "generator update: descent"),
    _i("002", 323, "the GAN activation for JS"),
    _i("002", 329, "with the JS f and the sigmoid discriminator the objective is the GAN game"),
    _i("002", 387, "D(x) estimates Pr(x from p_data)", _DSTAR),
    _i("002", 423, "discriminator update: ascent"),
    _i("002", 436, "generator update: descent"),
    _i("002", 439, "maximising log D(G(z)) avoids vanishing gradients", _VANISH),
    _i("002", (445, 447), "D* = p_data/(p_data + p_theta), and training minimises JS", _DSTAR, _VSTAR),
    _i("002", 503, "ConvTranspose(256, 4, 2) doubles 4 x 4 to 8 x 8"),
    _i("002", (519, 524), "the cGAN objective; at the optimum the generator matches p(x|y)",
       "cGAN: the optimal discriminator on (x, y)", "cGAN on an exact model: the optimal discriminator is a projection discriminator"),
    _i("002", 540, "disjoint supports: the discriminator separates perfectly and the generator's gradient vanishes",
       "Disjoint supports: JSD = log 2 for every theta, and the generator's gradient vanishes"),
    _i("002", (551, 554, 555, 556, 557), "Kantorovich-Rubinstein duality: W1 = sup over 1-Lipschitz f",
       "Weak duality: E_P f - E_Q f <= E|X - Y| for every coupling", "1-D W1 = integral of |F - G| (Kantorovich-Rubinstein)",
       "W1 between two 1-D Gaussians: critic, area and coupling agree",
       missing="weak duality (sup <= inf) is proved; the equality is a cited, counted assumption (checked in 1-D)"),
    _i("002", (560, 562), "weight clipping enforces a Lipschitz constraint (with some constant)", _CLIP),
    _i("002", (563, 564), "the gradient penalty, added to the critic's objective", _GP),
    _i("002", (569, 570, 571, 572), "the WGAN objective with a 1-Lipschitz critic", _WGAN),
    _i("002", (576, 579, 586), "discrete transport plans and their cost; the optimal plan",
       "Monotone matching is optimal for a convex cost (the exchange argument)",
       "W_p between empirical measures: the sorted matching is optimal (all permutations)"),
    _i("002", (632, 633, 636, 637), "the Bi-GAN objective and its optimal discriminator",
       "Bi-GAN: the optimal discriminator on the joint (x, z)"),
    _i("002", (640, 641, 645, 665), "at the equilibrium the joints agree and the encoder inverts the generator",
       "Bi-GAN: at the optimum the encoder inverts the generator",
       "Bi-GAN on an exact model: inverse pairs give equal joints, others do not"),
    _i("002", (819, 821, 828), "the DANN min-max and the feature extractor's descent",
       "DANN: the domain classifier's optimum and the min-max",
       "DANN on an exact model: the logistic classifier reaches the optimum"),
    _i("002", 827, "the domain discriminator ascends L_adv"),
    _i("002", 829, "the gradient reversal layer multiplies the domain gradient by -lambda_adv"),
    _i("002", 837, "aligned feature laws make the classifier generalise"),
    _i("002", 874, "FID is the 2-Wasserstein distance"),
    _i("002", (877, 878, 879, 880), "FID = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r^1/2 S_g S_r^1/2)^1/2)",
       "FID = W2^2 between Gaussians (general covariances)", "W2^2 between 1-D Gaussians equals the FID expression",
       "FID: the map y = A x and its traces"),
    _i("002", 884, "FID is symmetric, non-negative, and zero iff the moments agree",
       "FID: symmetric, >= 0, and 0 exactly when the moments agree"),
    # ------------------------------------------------------------------------------------------------ 003
    _i("003", (50, 51), "D >= 0 and D = 0 iff P_X = P_theta", _DF_GE0, _DF_ZERO),
    _i("003", 95, "D_f >= 0 for every f", _DF_GE0, _DFP),
    _i("003", 96, "D_f = 0 iff p_X = p_theta, for every convex f with f(1) = 0", _DF_ZERO),
    _i("003", (106, 108), "f(u) = u log u gives KL", "KL as an f-divergence"),
    _i("003", 112, "KL is not symmetric", _KL_ASYM),
    _i("003", 114, "the JS f"),
    _i("003", 115, "the total-variation f", "Total variation as an f-divergence"),
    _i("003", (133, 135), "I ~ (1/n) sum h(x_i) by the LLN, an unbiased Monte Carlo estimate", _MC, _WLLN),
    _i("003", 159, "f* is convex", *_CONJ_ALL, missing=_CATALOGUE_ONLY),
    _i("003", (160, 164), "f** = f, so D_f = integral of p_theta sup_t {t u - f*(t)}", *_CONJ_ALL,
       missing=_CATALOGUE_ONLY),
    _i("003", (168, 174, 192), "D_f >= sup_T [E_pX T - E_ptheta f*(T)]", _BOUND, _BOUND_ALL),
    _i("003", 172, "sup_t g(x, t) is attained for each x"),
    _i("003", 211, "the VDM loss E_pX T(x) - E_ptheta f*(T(g_theta(z)))"),
    _i("003", 223, "the GAN f"),
    _i("003", 229, "the GAN conjugate", kinds=("conjugate",)),
    _i("003", 229, "dom f* = (-oo, 0) for the GAN conjugate", kinds=("domain",)),
    _i("003", 233, "the GAN activation"),
    _i("003", 241, "the GAN objective in V"),
    _i("003", 245, "J_GAN = E_pX log D(x) + E_ptheta log(1 - D(g_theta(z)))"),
    _i("003", 262, "generator update: descent"),
    _i("003", 292, "the minibatch discriminator objective estimates J_GAN", _MC),
    _i("003", 315, "generator update: descent"),
    _i("003", 320, "the generator loss decreases as D(g(z)) -> 1"),
    _i("003", 323, "maximising log D(g(z)) gives stronger gradients early", _VANISH),
    # ------------------------------------------------------------------------------------------------ 004
    _i("004", (121, 232), "Bayes' rule"),
    _i("004", 206, "2^n - 1 parameters for n binary pixels"),
    _i("004", 219, "256^3 - 1 parameters for an RGB pixel"),
    _i("004", (228, 287, 320), "the chain rule", _CHAIN),
    _i("004", (243, 245), "a Bayesian network's factorisation is a distribution (sums to 1)", _CHAIN,
       "FVSBN with 3 variables: the chain-rule product is a joint whose conditionals are the sigmoids",
       missing="shown for the chain rule and a 3-variable FVSBN, not for a general DAG"),
    _i("004", 263, "the naive-Bayes posterior"),
    _i("004", 280, "the Gaussian density (normalised, its moments)", "Gaussian moments", "Standard Gaussian moments"),
    _i("004", 284, "the multivariate Gaussian density", "Expectation of a quadratic form", "Gaussian KL in d dimensions",
       missing="its moments are used; the normalising constant (2 pi)^(n/2) |Sigma|^(1/2) is not checked"),
    _i("004", (364, 629), "per-pixel and per-character chain rules", _CHAIN),
    _i("004", (441, 445, 451), "the FVSBN conditionals",
       "FVSBN with 3 variables: the chain-rule product is a joint whose conditionals are the sigmoids"),
    _i("004", 453, "FVSBN has 1 + 2 + ... + d ~ d^2/2 parameters",
       "Parameter counts: FVSBN, NADE, MADE, RNADE against torch modules"),
    _i("004", (459, 468, 473, 475, 483), "NADE with shared weights gives the same conditionals",
       "NADE: the shared-weight recursion gives the same conditionals, and the joint sums to 1"),
    _i("004", 492, "NADE's parameter count", "Parameter counts: FVSBN, NADE, MADE, RNADE against torch modules",
       slip=True),
    _i("004", 504, "h_i = sigma(W_(:, i) x_<i + c)"),
    _i("004", (506, 509), "softmax gives K probabilities (non-negative, summing to 1)"),
    _i("004", 527, "an equal-weight mixture of K Gaussians is a density",
       "RNADE: an equal-weight mixture of K Gaussians is a density"),
    _i("004", (574, 597, 598, 599, 600), "MADE's masks make the autoencoder autoregressive",
       "MADE: the masks make the autoencoder autoregressive"),
    _i("004", (713, 715), "the product of conditionals, and its log as a sum",
       "MLE for AR models: the log-likelihood separates, and so does its gradient"),
    _i("004", 761, "-log p -> oo as p -> 0"),
    _i("004", (766, 767, 768), "KL(p_data || p_theta) = E log p_data - E log p_theta",
       "argmin NLL = argmin KL(p_data||p_theta)"),
    _i("004", 769, "E_data[-log p_theta] ~ L(theta)"),
    _i("004", (782, 783, 790, 1405), "argmin of the NLL = argmin of KL(p_data || p_theta)",
       "argmin NLL = argmin KL(p_data||p_theta)"),
    _i("004", (802, 805, 811, 813), "KL >= 0 via ln x <= x - 1", _KL_GE0),
    _i("004", 815, "KL is not symmetric", _KL_ASYM),
    _i("004", 816, "KL = 0 iff the two distributions are the same", _KL_GE0),
    _i("004", 827, "2^784 ~ 10^236"),
    _i("004", (850, 858), "the Monte Carlo estimate is unbiased with variance V[g]/T", _MC),
    _i("004", 854, "the Monte Carlo estimate converges (LLN)", _MC, _WLLN),
    _i("004", (866, 872, 880), "the AR log-likelihood separates over conditionals",
       "MLE for AR models: the log-likelihood separates, and so does its gradient"),
    _i("004", (886, 896, 910), "gradient ascent on the log-likelihood"),
    _i("004", 900, "the gradient for theta_i keeps one conditional",
       "FVSBN maximum likelihood: the gradient of each conditional", slip=True),
    _i("004", 912, "the gradient is the sum of the conditionals' gradients",
       "MLE for AR models: the log-likelihood separates, and so does its gradient"),
    _i("004", (916, 918), "the minibatch gradient estimates the full gradient", _MC),
    _i("004", 993, "the mixture marginal sum_k pi_k N(x; mu_k, Sigma_k)",
       "RNADE: an equal-weight mixture of K Gaussians is a density",
       missing="checked for equal weights pi_k = 1/K only"),
    _i("004", 1026, "p(x) = E_{p(z|x)}[p(x|z) p(z)/p(z|x)]", _IWAE_UNBIASED),
    _i("004", (1036, 1048), "log p(x) = ELBO + KL(q || p(z|x)) >= ELBO",
       "log p(x) = ELBO + KL(q(z|x) || p(z|x)) >= ELBO"),
    _i("004", 1050, "a smaller KL(q || p(z)) makes the ELBO tighter"),
    _i("004", (1056, 1076), "ELBO = E_q log p(x|z) - KL(q || p(z))",
       "ELBO = E_q log p(x|z) - KL(q(z|x) || p(z))"),
    _i("004", 1068, "the closed-form Gaussian KL", "Closed-form Gaussian KL, L dimensions",
       "Closed-form Gaussian KL, one dimension", "Gaussian KL in d dimensions"),
    _i("004", 1080, "arg max of log-likelihood >= arg max of the ELBO", slip=True),
    _i("004", 1088, "the beta-ELBO", "beta-VAE: for beta >= 1 the beta-ELBO is below the ELBO, hence below log p(x)",
       "An exact linear-Gaussian VAE: ELBO, its gap, and beta < 1"),
    _i("004", (1117, 1134, 1160), "log p(x) >= L_m >= L_1 = ELBO", "IWAE: L_k <= log p(x)", "IWAE: L_k <= L_(k+1)",
       "IWAE: L_1 = ELBO", "IWAE on an exact discrete model"),
    _i("004", 1126, "L_m -> log p(x) as m -> oo", "IWAE: L_k -> log p(x) for weights bounded below",
       missing="proved for weights bounded below with finite variance; the general case is not"),
    _i("004", (1139, 1145, 1148), "the mean of the weights is unbiased for p(x)", _IWAE_UNBIASED),
    _i("004", (1153, 1154, 1155), "Jensen: log p(x) >= L_m", "IWAE: L_k <= log p(x)"),
    _i("004", (1164, 1170, 1175), "L_m >= L_1 by Jensen on the uniform W", "IWAE: L_k <= L_(k+1)"),
    _i("004", (1180, 1184), "L_1 = ELBO", "IWAE: L_1 = ELBO"),
    _i("004", 1188, "the limit proof: E moved inside the log"),
    _i("004", 1195, "N(x | mu(z), Sigma(z)) = N(x | mu(z), I) with Sigma = diag(e^sigma(Bz + d))"),
    _i("004", (1216, 1218, 1220), "the reparameterisation z = mu + sigma eps",
       "Reparameterisation z = mu + sigma eps has law N(mu, sigma^2)"),
    _i("004", (1267, 1271), "one-sample Monte Carlo estimates of the ELBO term and the IWAE bound", _MC),
    _i("004", 1301, "p_X(x) = p_Z(h(x)) |h'(x)| = p_Z(z)/|f'(x)|", "Change of variables in 1-D, increasing and decreasing maps"),
    _i("004", 1307, "linear flow: p_X(x) = p_Z(W x) |det W|",
       "Linear flow: p_X(x) = p_Z(A^-1 x) |det A^-1| is the N(0, A A') density"),
    _i("004", (1313, 1344, 1393), "the n-D change of variables",
       "Change of variables in n dimensions, for a general diffeomorphism",
       "An affine coupling layer: triangular Jacobian, exact inverse, normalised density",
       missing="the substitution rule for multiple integrals is a cited, counted assumption; exact models check it"),
    _i("004", 1328, "an invertible map needs equal dimensions",
       missing="not checked (invariance of domain, a theorem of topology)"),
    _i("004", (1356, 1362, 1364), "composing flows multiplies the Jacobian determinants",
       "Composition of flows: log-dets add"),
    _i("004", 1372, "the flow log-likelihood", "Flow log-likelihood on an exact model: two affine layers"),
    _i("004", (1439, 1441, 1468), "the optimal discriminator D* = p_data/(p_theta + p_data)", _DSTAR),
    _i("004", (1449, 1457, 1459), "first and second derivatives of the discriminator loss in D(x)", _DSTAR),
    _i("004", 1466, "a zero integral makes the integrand zero"),
    _i("004", (1473, 1485, 1489), "the optimal logit h = log(p_data/p_theta)", "Optimal logit log(p/q)"),
    _i("004", (1524, 1532, 1611), "the KL-based loss at D* is KL(p_theta || p_data)",
       "KL-based generator loss at D* is KL(p_theta||p_data)"),
    _i("004", 1544, "the WGAN-GP critic loss", _WGAN),
    _i("004", 1550, "the WGAN generator loss -E_{z ~ p_theta(z)}[D(x)]", slip=True),
    _i("004", (1566, 1570, 1578), "min_G max_D V = min_G 2 JSD - log 4", _VSTAR),
    _i("004", 1574, "V(G, D*) = 2 [KL + KL] - log 4"),
    _i("004", 1584, "sigma'(x)/(1 - sigma(x)) = sigma(x), through its chain"),
    _i("004", (1580, 1588, 1592, 1601), "the minimax gradient vanishes when D ~ 0, the non-saturating one does not",
       _VANISH),
    _i("004", 1635, "WGAN gives smoother gradients", _WGAN),
    _i("004", 1645, "the case-1 generator loss"),
    _i("004", 1649, "KL between N(theta, eps^2) and N(theta_0, eps^2)", "KL between narrow Gaussians"),
    _i("004", 1653, "L_G -> oo and its derivative -> oo as eps -> 0"),
    _i("004", 1661, "'if eps != eps_0' the distributions barely overlap", slip=True),
    _i("004", (1680, 1688, 1690), "without a Lipschitz constraint there is no optimal critic",
       "WGAN without the Lipschitz constraint has no optimal critic"),
    _i("004", 1694, "case 3: a 1-Lipschitz critic", _WGAN),
    _i("004", 1707, "the total variation row's f and integral"),
    _i("004", (1708, 1709, 1712, 1713), "the KL, reverse-KL, Hellinger and Jeffrey rows"),
    _i("004", 1710, "the Pearson row"),
    _i("004", 1711, "the Neyman row"),
    _i("004", 1714, "the Jensen-Shannon row"),
    _i("004", 1715, "the weighted Jensen-Shannon row"),
    _i("004", 1716, "the GAN row"),
    _i("004", 1717, "the alpha row"),
]


@dataclass
class Row:
    item: Item
    status: str
    by: list[str]  # what checks it: "claim line N: verdict", proof titles
    detail: str  # what is missing, why not covered, or the slip's correction


def evaluate(rows, results) -> list[Row]:
    """Each item's status from the notes' verdicts (rows: (NoteClaim, Verdict)) and the proofs' results."""
    from .notes import NOT_EXPRESSIBLE

    passed = {r.title: r.passed for r in results}
    slips = {(f, ln): fix for f, _, ln, _, fix in NOT_EXPRESSIBLE}
    out = []
    for item in ITEMS:
        claims = [(c, v) for c, v in rows if c.file == item.file and c.line in item.lines
                  and (not item.kinds or c.kind in item.kinds)]
        proofs = [t for t in item.proofs if passed.get(t)]
        by = [f"line {c.line}: {v.verdict}" for c, v in claims] + list(proofs)
        slip = [slips[(item.file, ln)] for ln in item.lines if item.slip and (item.file, ln) in slips]
        if any(v.verdict == REFUTED for _, v in claims):
            status, detail = "refuted", item.missing
        elif slip:
            status, detail = "refuted", "by reading (not a formula the checker evaluates): " + slip[0]
        elif (claims and all(v.verdict == VERIFIED for _, v in claims)) or (proofs and not claims):
            status, detail = ("partly" if item.missing else "checked"), item.missing
        elif claims or proofs:  # an undecided claim with no passing proof behind it
            status, detail = "partly", item.missing or "a claim here is undecided"
        else:
            status, detail = "not covered", item.missing or "nothing checks it"
        if item.proofs and len(proofs) < len(item.proofs):
            gone = [t for t in item.proofs if not passed.get(t)]
            detail = (detail + "; " if detail else "") + "proof not passing or not found: " + "; ".join(gone)
            if status == "checked":
                status = "partly"
        out.append(Row(item, status, by, detail))
    return out


def counts_by_note(coverage: list[Row]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for row in coverage:
        note = out.setdefault(row.item.file, {s: 0 for s in STATUSES})
        note[row.status] += 1
    total = {s: sum(n[s] for n in out.values()) for s in STATUSES}
    return {**out, "all": total}


def _lines(item: Item) -> str:
    return ", ".join(str(n) for n in item.lines)


def _cell(text: str) -> str:
    from .report import _text

    return _text(text).replace("|", r"\|")


def coverage_markdown(coverage: list[Row]) -> list[str]:
    from .report import _text

    counts = counts_by_note(coverage)
    out = ["## Coverage", "",
           "| note | checkable claims | checked | refuted | partly | not covered |", "|---|---|---|---|---|---|"]
    for note, n in counts.items():
        name = "all notes" if note == "all" else note
        cells = " | ".join(str(n[s]) for s in STATUSES)
        out.append(f"| {name} | {sum(n.values())} | {cells} |")
    out += ["", "*Refuted* counts the claims found wrong, by a check or (marked so) by reading; *partly* names what is "
            "left out. The items that are partly covered or not covered:", ""]
    for row in coverage:
        if row.status in ("partly", "not covered"):
            out.append(f"- {row.item.file} line {_lines(row.item)} ({row.status}): {_text(row.item.what)} — "
                       f"{_text(row.detail)}.")
    out += ["", "<details><summary>Every item, with what checks it</summary>", "",
            "| note | lines | claim | status | checked by |", "|---|---|---|---|---|"]
    for row in coverage:
        by = "; ".join(row.by) if row.by else "—"
        out.append(f"| {row.item.file} | {_lines(row.item)} | {_cell(row.item.what)} | {row.status} | {_cell(by)} |")
    out += ["", "</details>"]
    return out


def coverage_json(coverage: list[Row]) -> dict:
    return {"counts": counts_by_note(coverage),
            "items": [{"file": r.item.file, "lines": list(r.item.lines), "claim": r.item.what, "status": r.status,
                       "checked_by": r.by, "detail": r.detail} for r in coverage]}


def summary_sentence(coverage: list[Row]) -> str:
    """The proofs page's coverage sentence, from the table."""
    n = counts_by_note(coverage)["all"]
    total = sum(n.values())
    return (f"{total} checkable claims in the five notes: {n['checked']} checked, {n['refuted']} refuted, "
            f"{n['partly']} partly covered, {n['not covered']} not covered")
