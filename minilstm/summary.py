"""Sequential.summary() in Keras 3's table format."""


def format_size(n_bytes):
    """Bytes as Keras prints them: '17.13 KB' (1024 steps)."""
    size = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.2f} {unit}"
        size /= 1024


def format_shape(shape):
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (
        ",)" if len(shape) == 1 else ")")


def _connections(model, layer):
    """Keras's 'Connected to' cell: the tensors each call of the layer reads, name[node][index]."""
    names = []
    for node in getattr(model, "_graph").nodes:
        if node.layer is layer:
            for tensor in node.parents:
                producer = tensor.node.layer
                node_index = producer._inbound_nodes.index(tensor.node) \
                    if tensor.node in getattr(producer, "_inbound_nodes", []) else 0
                names.append(f"{producer.name}[{node_index}][{tensor.index}]")
    return ", ".join(names) or "-"


def _format_output_shape(shape):
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return format_shape(shape)


def summary_lines(model):
    """The lines of the summary table, without a trailing newline.

    Sequential models get Keras 3's three columns; Functional models add
    'Connected to'.
    """
    functional = type(model).__name__ != "Sequential" and getattr(model, "_graph", None)
    header = ("Layer (type)", "Output Shape", "Param #") + (("Connected to",) if functional
                                                            else ())
    rows = []
    for layer in model.layers:
        if layer.built:
            row_cells = (f"{layer.name} ({type(layer).__name__})",
                         _format_output_shape(layer.output_shape), f"{layer.count_params():,}")
        else:
            row_cells = (f"{layer.name} ({type(layer).__name__})", "?", "0 (unbuilt)")
        rows.append(row_cells + ((_connections(model, layer),) if functional else ()))
    minimum = [31, 22, 13, 17][:len(header)]
    widths = [max(minimum[k], *(len(r[k]) for r in rows + [header])) for k in range(len(header))]

    def rule(left, fill, mid, right):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row(cells, bar):
        aligned = [f"{cell:>{w}}" if k == 2 else f"{cell:<{w}}"
                   for k, (cell, w) in enumerate(zip(cells, widths))]
        return f"{bar} " + f" {bar} ".join(aligned) + f" {bar}"

    lines = [f'Model: "{model.name}"', rule("┏", "━", "┳", "┓"), row(header, "┃"),
             rule("┡", "━", "╇", "┩")]
    for k, cells in enumerate(rows):
        if k:
            lines.append(rule("├", "─", "┼", "┤"))
        lines.append(row(cells, "│"))
    lines.append(rule("└", "─", "┴", "┘"))
    total = sum(int(w.size) for w in model.weights)
    trainable = sum(int(w.size) for w in model.trainable_weights)
    itemsize = model.dtype_itemsize()
    for label, count in (("Total", total), ("Trainable", trainable),
                         ("Non-trainable", total - trainable)):
        lines.append(f" {label} params: {count:,} ({format_size(count * itemsize)})")
    return lines
