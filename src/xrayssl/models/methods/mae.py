"""MAE (He et al. 2022, arXiv:2111.06377): mask most patches of a ViT's input, reconstruct their pixels from
the rest with a small decoder. Self pre-training on the target set alone helped small medical sets (Zhou
et al., ISBI 2023). Each view is masked and reconstructed on its own (the pair is two samples, not a pair).
Targets are per-patch normalised pixels, as in the paper; the probe reads the encoder's mean patch token.

Built-in ViTs (torchvision's) and timm ViTs (``timm:vit_*``, DINOv2 included) alike; a timm ViT started from
pretrained weights keeps them (lightly would otherwise re-initialise its weights and position embeddings)."""

import torch
from lightly.models import utils
from lightly.models.modules import MAEDecoder
from lightly.models.modules.masked_vision_transformer_timm import MaskedVisionTransformerTIMM
from lightly.models.modules.masked_vision_transformer_torchvision import MaskedVisionTransformerTorchvision

from xrayssl.errors import XraySSLError
from xrayssl.models.backbones import VIT_PATCH
from xrayssl.models.methods import SSLMethod, register_method


@register_method
class MAE(SSLMethod):
    name = "mae"
    kinds = ("vit",)

    def __init__(self, backbone, mask_ratio: float = 0.75):
        super().__init__(backbone)
        self.mask_ratio = mask_ratio
        if hasattr(backbone, "vit"):  # the built-in ViT
            self.patch, width = VIT_PATCH, backbone.vit.hidden_dim
            self.encoder = MaskedVisionTransformerTorchvision(vit=backbone.vit)  # shares the backbone's weights
        else:
            self.patch, width = backbone.patch, backbone.model.embed_dim
            keep = "skip" if backbone.pretrained else ""
            self.encoder = MaskedVisionTransformerTIMM(
                vit=backbone.model, weight_initialization=keep, pos_embed_initialization=keep or "sincos"
            )
        self.prefix = getattr(self.encoder.vit, "num_prefix_tokens", 1)
        if self.prefix != 1:  # lightly's masking keeps exactly one class token unmasked
            raise XraySSLError(f"mae: {backbone.name} has {self.prefix} prefix tokens (registers); MAE here needs 1")
        self.sequence_length = self.encoder.sequence_length
        self.mask_token = torch.nn.Parameter(torch.zeros(1, 1, 128))
        self.decoder = MAEDecoder(
            seq_length=self.sequence_length,
            num_layers=2,
            num_heads=4,
            embed_input_dim=width,
            hidden_dim=128,
            mlp_dim=512,
            out_dim=self.patch**2,
        )

    def _reconstruction_loss(self, x):
        b = len(x)
        keep, masked = utils.random_token_mask((b, self.sequence_length), self.mask_ratio, device=x.device)
        encoded = self.encoder.encode(self.backbone.normalise(x), idx_keep=keep)
        tokens = utils.repeat_token(self.mask_token, (b, self.sequence_length))
        tokens = utils.set_at_index(tokens, keep, self.decoder.embed(encoded).type_as(tokens))
        pred = self.decoder.predict(utils.get_at_index(self.decoder.decode(tokens), masked))
        # no prefix (class, register) tokens among the patches
        target = utils.get_at_index(utils.patchify(x, self.patch), masked - self.prefix)
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        return torch.nn.functional.mse_loss(pred.float(), ((target - mean) / (var + 1e-6).sqrt()).float())

    def loss(self, views, progress):
        return 0.5 * (self._reconstruction_loss(views.x1) + self._reconstruction_loss(views.x2))
