"""Image-classification networks as MXNet users write them, built with mxc's symbol API.

    resnet(num_layers, image_shape)     ResNet v2 (pre-activation): 20/56/110 for 3x32x32 (basic
                                        blocks, three stages), 18/34 (basic) and 50/101/152
                                        (bottleneck) for 3x224x224 (four stages)
    inception_bn(image_shape)           Inception with BatchNorm (Ioffe & Szegedy 2015)
    NETWORKS[name] -> (builder, image shape)

Each builder returns the SoftmaxOutput symbol ('data' and 'softmax_label' inputs); the layer
names follow MXNet's image-classification examples, so parameter files line up.
"""
import mxc as mx

BN_MOM = 0.9


def _bn(data, name, eps=2e-5, fix_gamma=False):
    return mx.sym.BatchNorm(data=data, fix_gamma=fix_gamma, eps=eps, momentum=BN_MOM,
                            name=name)


def _conv(data, filters, kernel, stride, pad, name, no_bias=True):
    return mx.sym.Convolution(data=data, num_filter=filters, kernel=kernel, stride=stride,
                              pad=pad, no_bias=no_bias, workspace=256, name=name)


def residual_unit(data, filters, stride, dim_match, name, bottleneck):
    """One pre-activation unit: (bn, relu, conv) x 2 or x 3 (bottleneck, the middle one
    carrying the stride), plus the input or a strided 1x1 projection of it."""
    pre = mx.sym.Activation(data=_bn(data, name + "_bn1"), act_type="relu",
                            name=name + "_relu1")
    if bottleneck:
        mid = filters // 4
        body = _conv(pre, mid, (1, 1), (1, 1), (0, 0), name + "_conv1")
        body = mx.sym.Activation(data=_bn(body, name + "_bn2"), act_type="relu",
                                 name=name + "_relu2")
        body = _conv(body, mid, (3, 3), stride, (1, 1), name + "_conv2")
        body = mx.sym.Activation(data=_bn(body, name + "_bn3"), act_type="relu",
                                 name=name + "_relu3")
        body = _conv(body, filters, (1, 1), (1, 1), (0, 0), name + "_conv3")
    else:
        body = _conv(pre, filters, (3, 3), stride, (1, 1), name + "_conv1")
        body = mx.sym.Activation(data=_bn(body, name + "_bn2"), act_type="relu",
                                 name=name + "_relu2")
        body = _conv(body, filters, (3, 3), (1, 1), (1, 1), name + "_conv2")
    shortcut = data if dim_match else _conv(pre, filters, (1, 1), stride, (0, 0),
                                            name + "_sc")
    return body + shortcut


def resnet(num_layers=50, image_shape=(3, 224, 224), num_classes=1000):
    """ResNet of `num_layers` layers for images of `image_shape` (C, H, W)."""
    height = image_shape[1]
    if height <= 32:
        if (num_layers - 2) % 6:
            raise ValueError("a CIFAR ResNet has 6n+2 layers, not %d" % num_layers)
        units, filters, bottleneck = [(num_layers - 2) // 6] * 3, [16, 16, 32, 64], False
    else:
        units = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3],
                 152: [3, 8, 36, 3]}.get(num_layers)
        if units is None:
            raise ValueError("no ImageNet ResNet of %d layers" % num_layers)
        bottleneck = num_layers >= 50
        filters = [64, 256, 512, 1024, 2048] if bottleneck else [64, 64, 128, 256, 512]
    data = mx.sym.Variable("data")
    data = mx.sym.identity(data=data, name="id")
    data = _bn(data, "bn_data", fix_gamma=True)
    if height <= 32:
        body = _conv(data, filters[0], (3, 3), (1, 1), (1, 1), "conv0")
    else:
        body = _conv(data, filters[0], (7, 7), (2, 2), (3, 3), "conv0")
        body = mx.sym.Activation(data=_bn(body, "bn0"), act_type="relu", name="relu0")
        body = mx.sym.Pooling(data=body, kernel=(3, 3), stride=(2, 2), pad=(1, 1),
                              pool_type="max", name="pool0")
    for stage, count in enumerate(units):
        stride = (1, 1) if stage == 0 else (2, 2)
        body = residual_unit(body, filters[stage + 1], stride, False,
                             "stage%d_unit1" % (stage + 1), bottleneck)
        for unit in range(1, count):
            body = residual_unit(body, filters[stage + 1], (1, 1), True,
                                 "stage%d_unit%d" % (stage + 1, unit + 1), bottleneck)
    body = mx.sym.Activation(data=_bn(body, "bn1"), act_type="relu", name="relu1")
    body = mx.sym.Pooling(data=body, global_pool=True, kernel=(7, 7), pool_type="avg",
                          name="pool1")
    body = mx.sym.Flatten(data=body)
    body = mx.sym.FullyConnected(data=body, num_hidden=num_classes, name="fc1")
    return mx.sym.SoftmaxOutput(data=body, name="softmax")


# -- Inception-BN ------------------------------------------------------------------------------

_EPS = 1e-10 + 1e-5


def _cbr(data, filters, kernel, name, stride=(1, 1), pad=(0, 0), suffix=""):
    """Convolution (with bias), BatchNorm, relu."""
    conv = _conv(data, filters, kernel, stride, pad, "conv_%s%s" % (name, suffix),
                 no_bias=False)
    bn = _bn(conv, "bn_%s%s" % (name, suffix), eps=_EPS)
    return mx.sym.Activation(data=bn, act_type="relu", name="relu_%s%s" % (name, suffix))


def _inception_a(data, n1, n3r, n3, nd3r, nd3, pool, proj, name):
    """Four branches concatenated: 1x1; 1x1 -> 3x3; 1x1 -> 3x3 -> 3x3; pool -> 1x1."""
    b1 = _cbr(data, n1, (1, 1), "%s_1x1" % name)
    b3 = _cbr(data, n3r, (1, 1), "%s_3x3" % name, suffix="_reduce")
    b3 = _cbr(b3, n3, (3, 3), "%s_3x3" % name, pad=(1, 1))
    bd = _cbr(data, nd3r, (1, 1), "%s_double_3x3" % name, suffix="_reduce")
    bd = _cbr(bd, nd3, (3, 3), "%s_double_3x3_0" % name, pad=(1, 1))
    bd = _cbr(bd, nd3, (3, 3), "%s_double_3x3_1" % name, pad=(1, 1))
    bp = mx.sym.Pooling(data=data, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type=pool,
                        name="%s_pool_%s_pool" % (pool, name))
    bp = _cbr(bp, proj, (1, 1), "%s_proj" % name)
    return mx.sym.Concat(b1, b3, bd, bp, name="ch_concat_%s_chconcat" % name)


def _inception_b(data, n3r, n3, nd3r, nd3, name):
    """Three branches at stride 2 concatenated: 1x1 -> 3x3/2; 1x1 -> 3x3 -> 3x3/2; maxpool/2."""
    b3 = _cbr(data, n3r, (1, 1), "%s_3x3" % name, suffix="_reduce")
    b3 = _cbr(b3, n3, (3, 3), "%s_3x3" % name, stride=(2, 2), pad=(1, 1))
    bd = _cbr(data, nd3r, (1, 1), "%s_double_3x3" % name, suffix="_reduce")
    bd = _cbr(bd, nd3, (3, 3), "%s_double_3x3_0" % name, pad=(1, 1))
    bd = _cbr(bd, nd3, (3, 3), "%s_double_3x3_1" % name, stride=(2, 2), pad=(1, 1))
    bp = mx.sym.Pooling(data=data, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max",
                        name="max_pool_%s_pool" % name)
    return mx.sym.Concat(b3, bd, bp, name="ch_concat_%s_chconcat" % name)


def inception_bn(image_shape=(3, 224, 224), num_classes=1000):
    """Inception-BN for 224x224 images."""
    data = mx.sym.Variable("data")
    body = _cbr(data, 64, (7, 7), "1", stride=(2, 2), pad=(3, 3))
    body = mx.sym.Pooling(data=body, kernel=(3, 3), stride=(2, 2), pool_type="max",
                          name="pool_1")
    body = _cbr(body, 64, (1, 1), "2_red")
    body = _cbr(body, 192, (3, 3), "2", pad=(1, 1))
    body = mx.sym.Pooling(data=body, kernel=(3, 3), stride=(2, 2), pool_type="max",
                          name="pool_2")
    body = _inception_a(body, 64, 64, 64, 64, 96, "avg", 32, "3a")
    body = _inception_a(body, 64, 64, 96, 64, 96, "avg", 64, "3b")
    body = _inception_b(body, 128, 160, 64, 96, "3c")
    body = _inception_a(body, 224, 64, 96, 96, 128, "avg", 128, "4a")
    body = _inception_a(body, 192, 96, 128, 96, 128, "avg", 128, "4b")
    body = _inception_a(body, 160, 128, 160, 128, 160, "avg", 128, "4c")
    body = _inception_a(body, 96, 128, 192, 160, 192, "avg", 128, "4d")
    body = _inception_b(body, 128, 192, 192, 256, "4e")
    body = _inception_a(body, 352, 192, 320, 160, 224, "avg", 128, "5a")
    body = _inception_a(body, 352, 192, 320, 192, 224, "max", 128, "5b")
    body = mx.sym.Pooling(data=body, kernel=(7, 7), stride=(1, 1), pool_type="avg",
                          name="global_pool")
    body = mx.sym.Flatten(data=body)
    body = mx.sym.FullyConnected(data=body, num_hidden=num_classes, name="fc1")
    return mx.sym.SoftmaxOutput(data=body, name="softmax")


NETWORKS = {
    "resnet-20": (lambda: resnet(20, (3, 32, 32), 10), (3, 32, 32)),
    "resnet-18": (lambda: resnet(18, (3, 224, 224)), (3, 224, 224)),
    "resnet-50": (lambda: resnet(50, (3, 224, 224)), (3, 224, 224)),
    "inception-bn": (lambda: inception_bn((3, 224, 224)), (3, 224, 224)),
}
