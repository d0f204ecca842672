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


def summary_lines(model):
    """The lines of the summary table, without a trailing newline."""
    header = ("Layer (type)", "Output Shape", "Param #")
    rows = []
    for layer in model.layers:
        if layer.built:
            rows.append((f"{layer.name} ({type(layer).__name__})",
                         format_shape(layer.output_shape), f"{layer.count_params():,}"))
        else:
            rows.append((f"{layer.name} ({type(layer).__name__})", "?", "0 (unbuilt)"))
    widths = [max([31, 22, 13][k], *(len(r[k]) for r in rows + [header])) for k in range(3)]

    def rule(left, fill, mid, right):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row(cells, bar):
        left, middle, right = cells
        return (f"{bar} {left:<{widths[0]}} {bar} {middle:<{widths[1]}} {bar} "
                f"{right:>{widths[2]}} {bar}")

    lines = [f'Model: "{model.name}"', rule("┏", "━", "┳", "┓"), row(header, "┃"),
             rule("┡", "━", "╇", "┩")]
    for k, cells in enumerate(rows):
        if k:
            lines.append(rule("├", "─", "┼", "┤"))
        lines.append(row(cells, "│"))
    lines.append(rule("└", "─", "┴", "┘"))
    trainable = sum(layer.count_params() for layer in model.layers if layer.trainable)
    total = sum(layer.count_params() for layer in model.layers)
    itemsize = model.dtype_itemsize()
    for label, count in (("Total", total), ("Trainable", trainable),
                         ("Non-trainable", total - trainable)):
        lines.append(f" {label} params: {count:,} ({format_size(count * itemsize)})")
    return lines
