"""Optimizers with Keras 3's update rules: SGD, Adam and RMSprop.

Parameters are arrays owned by layers, updated in place so the layers' references stay valid,
with the parameter's own array module (numpy or cupy) and in its dtype.
"""

import importlib
import math
import numbers
import warnings

import numpy as np

from .backend import get_array_module, to_numpy
from .kernels import is_loaded as kernel_set_loaded


class _Default(float):
    # A default `learning_rate` that can be told apart from the same value
    # passed explicitly, so `lr=` together with `learning_rate=` is caught.
    pass


_LR_SGD, _LR_ADAPTIVE = _Default(0.01), _Default(0.001)


class ArgumentTypeError(TypeError, ValueError):
    """A wrong type where Keras raises ValueError (`learning_rate`, SGD's `momentum`).

    Catchable as TypeError, as for every wrong type in minilstm, and as the ValueError
    that code written against Keras catches.
    """


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _interval_text(low, low_closed, high, high_closed):
    if high is None:
        return f"{'>=' if low_closed else '>'} {low:g}"
    return f"in {'[' if low_closed else '('}{low:g}, {high:g}{']' if high_closed else ')'}"


def _check_number(
    owner, name, value, low, high=None, low_closed=False, high_closed=False, hint="",
    type_error=TypeError,
):
    """`value` as a float, after checking it is a real number (not bool), finite, in range.

    The messages name the argument, say what was expected and what was received, and end
    with `hint`, how to fix it.
    """
    expected = _interval_text(low, low_closed, high, high_closed)
    if not _is_real(value):
        raise type_error(
            f"{owner}: `{name}` must be a float {expected}, but got type "
            f"{type(value).__name__}. Received: {name}={value!r}. {hint}".rstrip()
        )
    number = float(value)
    in_range = (
        math.isfinite(number)
        and (number >= low if low_closed else number > low)
        and (high is None or (number <= high if high_closed else number < high))
    )
    if not in_range:
        raise ValueError(
            f"{owner}: `{name}` must be a finite float {expected}. "
            f"Received: {name}={value!r}. {hint}".rstrip()
        )
    return number


def _check_bool(owner, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{owner}: `{name}` must be True or False. Received: {name}={value!r} "
            f"(type {type(value).__name__}). Pass {name}=True or {name}=False."
        )
    return bool(value)


def _check_learning_rate(owner, value, name="learning_rate"):
    # Keras also takes a LearningRateSchedule or a callable; minilstm changes the rate from
    # callbacks instead, so a callable is refused with a pointer to them.
    if callable(value):
        raise TypeError(
            f"{owner}: `{name}` must be a float >= 0; minilstm has no learning-rate schedule "
            f"objects. Received: {name}={value!r}. To change the rate during training, pass "
            "`callbacks=[LearningRateScheduler(schedule)]` or `ReduceLROnPlateau()` to `fit`."
        )
    return _check_number(
        owner, name, value, 0.0, low_closed=True, type_error=ArgumentTypeError,
        hint=f"Pass a float such as {name}=0.001; NaN, infinite or negative rates cannot train.",
    )


def _check_momentum(owner, value, type_error=TypeError):
    # Keras: "`momentum` must be a float between [0, 1]." minilstm also refuses 1, where the
    # velocity never decays and every past gradient keeps pushing at full strength.
    return _check_number(
        owner, "momentum", value, 0.0, 1.0, low_closed=True, type_error=type_error,
        hint="Use 0 for no momentum; 0.9 is common.",
    )


def _check_decay(owner, name, value):
    return _check_number(
        owner, name, value, 0.0, 1.0, low_closed=True,
        hint="It is the decay rate of a running average: use a value such as 0.9 "
        "(at 1 the average never moves; above 1 it grows without bound).",
    )


def _check_epsilon(owner, value):
    return _check_number(
        owner, "epsilon", value, 0.0,
        hint="It keeps the division away from zero: use a small positive value such as 1e-07.",
    )


# An absent slot for the compiled steps (no amsgrad), by dtype.
_NO_SLOT = {"f": np.empty(0, np.float32), "d": np.empty(0, np.float64)}


def _compiled_step(name):
    """The numba kernel set's compiled update (kernels/cpu/<name>.py) once that set is
    loaded in this process, else None: the fused loop then costs nothing to import,
    and a program that never loads numba keeps the NumPy formulas."""
    module = _COMPILED.get(name)
    if module is None and kernel_set_loaded("numba"):
        module = _COMPILED[name] = importlib.import_module(f"minilstm.kernels.cpu.{name}")
    return module


_COMPILED = {}


def _norm(grad):
    xp = get_array_module(grad)
    return float(xp.sqrt(xp.sum(grad * grad)))


class Optimizer:
    """Base class for optimizers: iteration count, slots and gradient clipping.

    Subclasses create per-parameter state in `build_slots(param)` and write the update in
    `update_step(param, grad, slots)`. `apply_gradients` clips the gradients, runs
    `update_step` for each parameter, then increments `iterations`.

    Every argument is checked before anything is set or warned about: a number must be a
    finite real (`True` is not a number) in its range, or the constructor raises ValueError
    (TypeError for a wrong type) naming the argument, what it expected and what it got.

    Args:
        learning_rate: A finite float >= 0, the step size, settable later (0 freezes the
            weights). The Keras 2 spelling `lr=` is accepted as an alias.
        clipnorm: If set, each gradient is rescaled to an L2 norm of at most this.
        clipvalue: If set, gradient entries are clipped to `[-clipvalue, clipvalue]`.
        global_clipnorm: If set, all gradients are rescaled together to a joint
            L2 norm of at most this. The three clip arguments are finite floats > 0 or
            None, and at most one may be set, as in Keras.
        name: The optimizer's name, by default its class name in lower case.

    >>> import numpy as np
    >>> optimizer = get("SGD")
    >>> w = np.array([1.0, 2.0])
    >>> optimizer.apply_gradients([(np.array([10.0, -10.0]), w)])
    >>> w, optimizer.iterations
    (array([0.9, 2.1]), 1)
    """

    def __init__(
        self,
        learning_rate,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        **kwargs,
    ):
        owner = type(self).__name__
        lr_name = "learning_rate"
        if "lr" in kwargs:  # Keras 2 spelling, a documented alias
            lr = kwargs.pop("lr")
            if not isinstance(learning_rate, _Default):
                raise ValueError(
                    f"{owner}: pass either `learning_rate` or its Keras 2 alias `lr`, not both. "
                    f"Received: learning_rate={learning_rate!r}, lr={lr!r}. Keep only "
                    "`learning_rate=`."
                )
            learning_rate, lr_name = lr, "lr"
        decay = kwargs.pop("decay", None)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        learning_rate = _check_learning_rate(owner, learning_rate, lr_name)
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(value is not None for value in clips.values()) > 1:
            received = ", ".join(f"{key}={value}" for key, value in clips.items())
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: {received}. Keep one and leave the others at None."
            )
        for key, value in clips.items():
            if value is not None:
                clips[key] = _check_number(
                    owner, key, value, 0.0,
                    hint=f"Pass a positive float such as {key}=1.0, or {key}=None for no clipping.",
                )
        if name is not None and not isinstance(name, str):
            raise TypeError(
                f"{owner}: `name` must be a string or None. Received: name={name!r}."
            )
        # Every argument is checked: only now warn and set attributes.
        if decay is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        self.learning_rate = learning_rate
        self.clipnorm, self.clipvalue, self.global_clipnorm = clips.values()
        self.name = name if name is not None else type(self).__name__.lower()
        self.iterations = 0
        self._slots = {}  # id(param) -> (param, {slot name: array}); holds param alive

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        # Set by callbacks too (LearningRateScheduler, ReduceLROnPlateau): 0 freezes training.
        self._learning_rate = _check_learning_rate(type(self).__name__, value)

    def apply_gradients(self, grads_and_vars):
        """Applies one step: clip the gradients, update each parameter in place.

        `grads_and_vars` is a list of `(grad, param)` pairs. Everything is
        checked before anything changes, so a rejected call leaves parameters,
        slots and `iterations` untouched.
        """
        grads, params = self._validate(grads_and_vars)
        self._update_all(params, self._clip(grads))
        self.iterations += 1

    def _update_all(self, params, grads):
        """Runs `update_step` on every parameter. An optimizer whose step shares constants
        across its parameters (Adam's bias correction) overrides this to work them out once
        a step rather than once a weight."""
        for grad, param in zip(grads, params):
            self.update_step(param, grad, self._slots_of(param))

    def _slots_of(self, param):
        """`param`'s slots, built on its first step."""
        entry = self._slots.get(id(param))
        if entry is None:
            entry = self._slots[id(param)] = (param, self.build_slots(param))
        return entry[1]

    def _validate(self, grads_and_vars):
        grads, params = [], []
        for index, pair in enumerate(grads_and_vars):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"Expected (grad, param) pairs. Received at {index}: {pair!r}")
            grad, param = pair
            if (type(grad) is np.ndarray and type(param) is np.ndarray
                    and grad.dtype is param.dtype and param.dtype.kind == "f"
                    and grad.shape == param.shape):
                grads.append(grad)  # what the model's own steps give: nothing to convert
                params.append(param)
                continue
            if grad is None:
                raise ValueError(
                    f"No gradient for the parameter of shape {param.shape} (pair {index})."
                )
            xp = get_array_module(param)
            if not isinstance(param, xp.ndarray) or param.dtype.kind != "f":
                raise TypeError(
                    "Each parameter must be a float array, updated in place. "
                    f"Received at {index}: {type(param).__name__} {getattr(param, 'dtype', '')}"
                )
            grad = xp.asarray(grad, dtype=param.dtype)
            if grad.shape != param.shape:
                raise ValueError(
                    f"Gradient shape {grad.shape} does not match parameter shape "
                    f"{param.shape} (pair {index})."
                )
            grads.append(grad)
            params.append(param)
        return grads, params

    def _clip(self, grads):
        if self.clipnorm is not None:  # per tensor: g * c / max(||g||, c)
            c = float(self.clipnorm)
            return [grad * (c / max(_norm(grad), c)) for grad in grads]
        if self.global_clipnorm is not None:  # all tensors by their joint norm
            c = float(self.global_clipnorm)
            global_norm = math.sqrt(sum(_norm(grad) ** 2 for grad in grads))
            return [grad * (c / max(global_norm, c)) for grad in grads]
        if self.clipvalue is not None:
            v = float(self.clipvalue)
            return [get_array_module(grad).clip(grad, -v, v) for grad in grads]
        return grads

    def build_slots(self, param):
        """The optimizer's state for `param`: a dict of zero arrays shaped like it."""
        return {}

    def update_step(self, param, grad, slots):
        """Updates `param` in place from `grad`, reading and writing `slots`."""
        raise NotImplementedError(f"{type(self).__name__} must implement `update_step`.")

    def slots_for(self, param):
        """The slot arrays of `param` by name ({} before its first step)."""
        entry = self._slots.get(id(param))
        return entry[1] if entry is not None else {}

    @property
    def variables(self):
        """Every slot array, parameter by parameter, in the order first seen."""
        return [array for _, slots in self._slots.values() for array in slots.values()]

    def reset(self):
        """Drops all slots and sets `iterations` back to 0."""
        self._slots = {}
        self.iterations = 0

    # -- Keras's variables: what `.weights.h5` and `.keras` files hold ------------------

    def _keras_slot_order(self, params):
        """(param, slot name) in the order Keras 3 creates the slot variables."""
        return []

    def keras_variables(self, params):
        """`[iterations, learning_rate, *slots]` as NumPy arrays, in Keras 3's order.

        `params` are the model's trainable weights in Keras's order. A slot not
        created yet (no step taken) is written as zeros, which is its value.
        """
        arrays = [np.asarray(self.iterations, dtype="int64"),
                  np.asarray(self.learning_rate, dtype="float32")]
        for param, slot in self._keras_slot_order(params):
            value = self.slots_for(param).get(slot)
            arrays.append(np.zeros(param.shape, param.dtype) if value is None
                          else to_numpy(value).copy())
        return arrays

    def check_keras_variables(self, params, arrays):
        """Checks variables read from a Keras file; returns a function that loads them.

        The counts must match Keras's layout for these params (else a warning,
        as Keras gives, and nothing is loaded); a file of an optimizer that never
        took a step holds only `iterations` and `learning_rate`.
        """
        order = self._keras_slot_order(params)
        if len(arrays) not in (2, 2 + len(order)):
            warnings.warn(
                f"Skipping variable loading for optimizer '{self.name}', because it has "
                f"{2 + len(order)} variables whereas the saved optimizer has {len(arrays)} "
                "variables.", stacklevel=3)
            return None
        for index, ((param, slot), array) in enumerate(zip(order, arrays[2:])):
            if tuple(array.shape) != tuple(param.shape):
                raise ValueError(
                    f"Optimizer variable {index + 2} ({slot}) in the file has shape "
                    f"{tuple(array.shape)}, but the weight it belongs to has shape "
                    f"{tuple(param.shape)}.")
        iterations = int(np.asarray(arrays[0]))
        learning_rate = _check_learning_rate(type(self).__name__, float(np.asarray(arrays[1])))
        if np.float32(learning_rate) == np.float32(self.learning_rate):
            learning_rate = self.learning_rate  # the file keeps float32: keep the exact rate

        def apply():
            self.reset()
            self.iterations, self.learning_rate = iterations, learning_rate
            if len(arrays) == 2:
                return
            for (param, slot), array in zip(order, arrays[2:]):
                xp = get_array_module(param)
                self._slots_of(param)[slot] = xp.asarray(array, dtype=param.dtype).copy()

        return apply

    _config_keys = ()  # a subclass's own constructor arguments, for get_config

    def get_config(self):
        """The constructor arguments, so that `type(opt)(**opt.get_config())` rebuilds it."""
        keys = ("name", "learning_rate", "clipnorm", "clipvalue", "global_clipnorm")
        return {key: getattr(self, key) for key in keys + self._config_keys}


class SGD(Optimizer):
    """Gradient descent, with optional momentum and Nesterov momentum.

    With `momentum == 0`, `w -= learning_rate * g`. Otherwise a velocity
    `v = momentum * v - learning_rate * g` is kept and `w += v`, or, with `nesterov=True`,
    `w += momentum * v - learning_rate * g`.

    Args:
        learning_rate: A float, defaults to 0.01.
        momentum: A float in [0, 1) that accelerates descent along consistent
            directions and damps oscillation. Defaults to 0, plain descent.
        nesterov: Whether to apply Nesterov momentum. Defaults to False.
        **kwargs: `clipnorm`, `clipvalue`, `global_clipnorm`, `name` (see `Optimizer`).

    >>> import numpy as np
    >>> w = np.array([1.0, 2.0])
    >>> optimizer = SGD(learning_rate=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     optimizer.apply_gradients([(np.array([1.0, -1.0]), w)])
    >>> w  # steps of 0.1, then 0.9 * 0.1 + 0.1
    array([0.71, 2.29])
    """

    _config_keys = ("momentum", "nesterov")

    def __init__(self, learning_rate=_LR_SGD, momentum=0.0, nesterov=False, **kwargs):
        momentum = _check_momentum("SGD", momentum, type_error=ArgumentTypeError)
        nesterov = _check_bool("SGD", "nesterov", nesterov)
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = momentum, nesterov

    def build_slots(self, param):
        xp = get_array_module(param)
        return {"momentum": xp.zeros_like(param)} if self.momentum > 0 else {}

    def _keras_slot_order(self, params):
        return [(p, "momentum") for p in params] if self.momentum > 0 else []

    def update_step(self, param, grad, slots):
        lr, momentum = self.learning_rate, self.momentum
        if momentum == 0:
            param -= lr * grad  # w -= lr * g
            return
        v = slots["momentum"]
        v[...] = momentum * v - lr * grad  # v = momentum * v - lr * g
        if self.nesterov:
            param += momentum * v - lr * grad  # w += momentum * v - lr * g (look ahead)
        else:
            param += v  # w += v


class Adam(Optimizer):
    """Adam: steps scaled by running estimates of the gradient's first two moments.

    Keeps `m`, the running mean of the gradient, and `v`, that of its square, and steps by
    `alpha * m / (sqrt(v) + epsilon)`, with the bias correction folded into `alpha`. As in
    Keras, `epsilon` is added before correction ("epsilon hat"), unlike PyTorch's Adam.

    Args:
        learning_rate: A float, defaults to 0.001.
        beta_1: Decay rate of the first-moment estimate, in [0, 1). Defaults to 0.9.
        beta_2: Decay rate of the second-moment estimate, in [0, 1). Defaults to 0.999.
        epsilon: Small constant > 0 for numerical stability. Defaults to 1e-7.
        amsgrad: Whether to use the AMSGrad variant, which divides by the
            largest `v` seen so far. Defaults to False.
        **kwargs: `clipnorm`, `clipvalue`, `global_clipnorm`, `name` (see `Optimizer`).

    >>> import numpy as np
    >>> w = np.array([1.0, 2.0])
    >>> Adam(learning_rate=0.1).apply_gradients([(np.array([3.0, -0.5]), w)])
    >>> w.round(4)  # the first step is about learning_rate * sign(g)
    array([0.9, 2.1])
    """

    _config_keys = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(
        self,
        learning_rate=_LR_ADAPTIVE,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ):
        beta_1 = _check_decay("Adam", "beta_1", beta_1)
        beta_2 = _check_decay("Adam", "beta_2", beta_2)
        epsilon, amsgrad = _check_epsilon("Adam", epsilon), _check_bool("Adam", "amsgrad", amsgrad)
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def build_slots(self, param):
        xp = get_array_module(param)
        names = ["momentum", "velocity"] + (["velocity_hat"] if self.amsgrad else [])
        return {name: xp.zeros_like(param) for name in names}

    def _keras_slot_order(self, params):
        # Keras 3 creates momentum and velocity together per weight, then velocity_hat.
        order = [(p, slot) for p in params for slot in ("momentum", "velocity")]
        return order + ([(p, "velocity_hat") for p in params] if self.amsgrad else [])

    def _step_size(self):
        """alpha, the learning rate with this step's bias correction."""
        t = self.iterations + 1
        return self.learning_rate * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)

    def _update_all(self, params, grads):
        compiled = _compiled_step("adam")
        if compiled is None:
            return super()._update_all(params, grads)
        # update_step's formulas fused into one compiled pass a weight, bit for bit the
        # same result; its scalars are rounded to each weight's dtype, as NumPy would.
        scalars = {}
        for grad, param in zip(grads, params):
            slots = self._slots_of(param)
            if not compiled.can_update(param, grad):
                self.update_step(param, grad, slots)
                continue
            char = param.dtype.char
            if char not in scalars:
                real = param.dtype.type
                scalars[char] = (real(self._step_size()), real(1 - self.beta_1),
                                 real(1 - self.beta_2), real(self.epsilon))
            compiled.adam_update(param, grad, slots["momentum"], slots["velocity"],
                                 slots.get("velocity_hat", _NO_SLOT[char]), *scalars[char])

    def update_step(self, param, grad, slots):
        xp = get_array_module(param)
        beta_1, beta_2 = self.beta_1, self.beta_2
        alpha = self._step_size()  # the learning rate with the bias correction
        m, v = slots["momentum"], slots["velocity"]
        m += (grad - m) * (1 - beta_1)  # m = beta_1 * m + (1 - beta_1) * g
        v += (grad * grad - v) * (1 - beta_2)  # v = beta_2 * v + (1 - beta_2) * g^2
        if self.amsgrad:
            v_hat = slots["velocity_hat"]
            xp.maximum(v_hat, v, out=v_hat)  # v_hat = max(v_hat, v)
            v = v_hat  # divide by the largest v so far
        param -= alpha * m / (xp.sqrt(v) + self.epsilon)  # w -= alpha * m / (sqrt(v) + eps)


class RMSprop(Optimizer):
    """RMSprop: steps divided by a running root mean square of the gradient.

    Keeps `v = rho * v + (1 - rho) * g**2` and steps by `lr * g / sqrt(v + epsilon)`, epsilon
    inside the square root as in Keras 3 (Keras 2.2 put it outside). `centered=True` divides by
    `sqrt(v - mg**2 + epsilon)` instead, `mg` the mean gradient; `momentum > 0` accumulates steps.

    Args:
        learning_rate: A float, defaults to 0.001.
        rho: Decay rate of the running mean square, in [0, 1). Defaults to 0.9.
        momentum: Momentum applied to the steps, in [0, 1). Defaults to 0, none.
        epsilon: Small constant > 0 for numerical stability. Defaults to 1e-7.
        centered: Whether to normalize by the estimated variance of the
            gradient instead of its mean square. Defaults to False.
        **kwargs: `clipnorm`, `clipvalue`, `global_clipnorm`, `name` (see `Optimizer`).

    >>> import numpy as np
    >>> w = np.array([1.0, 2.0])
    >>> RMSprop(learning_rate=0.01).apply_gradients([(np.array([3.0, -0.5]), w)])
    >>> w.round(6)  # the first step is about learning_rate * sign(g) / sqrt(1 - rho)
    array([0.968377, 2.031623])
    """

    _config_keys = ("rho", "momentum", "epsilon", "centered")

    def __init__(
        self,
        learning_rate=_LR_ADAPTIVE,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        **kwargs,
    ):
        rho, momentum = _check_decay("RMSprop", "rho", rho), _check_momentum("RMSprop", momentum)
        epsilon = _check_epsilon("RMSprop", epsilon)
        centered = _check_bool("RMSprop", "centered", centered)
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def build_slots(self, param):
        xp = get_array_module(param)
        names = ["velocity"]
        names += ["average_gradient"] if self.centered else []
        names += ["momentum"] if self.momentum > 0 else []
        return {name: xp.zeros_like(param) for name in names}

    def _keras_slot_order(self, params):
        # Keras 3 creates each kind for every weight in turn: velocity, momentum, average_gradient.
        kinds = ["velocity"] + (["momentum"] if self.momentum > 0 else []) \
            + (["average_gradient"] if self.centered else [])
        return [(p, slot) for slot in kinds for p in params]

    def update_step(self, param, grad, slots):
        xp = get_array_module(param)
        lr, rho = self.learning_rate, self.rho
        v = slots["velocity"]
        v[...] = rho * v + (1 - rho) * grad * grad  # v = rho * v + (1 - rho) * g^2
        if self.centered:
            mg = slots["average_gradient"]
            mg[...] = rho * mg + (1 - rho) * grad  # mg = rho * mg + (1 - rho) * g
            denominator = v - mg * mg + self.epsilon  # variance estimate + eps
        else:
            denominator = v + self.epsilon  # mean square + eps
        increment = lr * grad / xp.sqrt(denominator)  # inc = lr * g / sqrt(denom)
        if self.momentum > 0:
            mom = slots["momentum"]
            mom[...] = self.momentum * mom + increment  # mom = momentum * mom + inc
            param -= mom  # w -= mom
        else:
            param -= increment  # w -= inc


_OPTIMIZERS = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(identifier):
    """An optimizer from a name ('sgd', 'rmsprop', 'adam', any case) or an instance.

    A name gives a fresh instance with Keras's defaults; an `Optimizer`
    instance is returned as is.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    choices = "Expected one of 'sgd', 'rmsprop', 'adam', or an Optimizer instance."
    if isinstance(identifier, str):
        if identifier.lower() in _OPTIMIZERS:
            return _OPTIMIZERS[identifier.lower()]()
        raise ValueError(f"Unknown optimizer {identifier!r}. {choices}")
    raise TypeError(f"Could not interpret optimizer identifier: {identifier!r}. {choices}")
