# check-layering.awk: the rules of check-layering.sh. Inputs, in order: the layer table
# (tools/layers.txt), the allow-list (tools/layering-allow.txt), the list of source files and
# the include lines as "file:line:text". Prints one line per problem; exits 1 when there is one.

function layer_of(path,    i, best, len) {
    best = ""
    len = 0
    for (i = 1; i <= n_prefix; i++)
        if (substr(path, 1, length(prefix[i])) == prefix[i] && length(prefix[i]) > len) {
            best = prefix_layer[i]
            len = length(prefix[i])
        }
    return best
}

function unit_of(path) {
    sub(/_impl\.h$/, ".h", path)    # the private header of x is part of unit x
    sub(/\.[chyl]$/, "", path)
    return path
}

function add_node(u) {
    if (!(u in is_node)) {
        is_node[u] = 1
        node[++n_node] = u
    }
}

# Tarjan's strongly connected components; comp[u] numbers them.
function strong(v,    list, n, i, w) {
    order[v] = low[v] = ++counter
    stack[++sp] = v
    on_stack[v] = 1
    n = split(succ[v], list, " ")
    for (i = 1; i <= n; i++) {
        w = list[i]
        if (!(w in order)) {
            strong(w)
            if (low[w] < low[v])
                low[v] = low[w]
        } else if (on_stack[w] && order[w] < low[v])
            low[v] = order[w]
    }
    if (low[v] == order[v]) {
        n_comp++
        do {
            w = stack[sp--]
            on_stack[w] = 0
            comp[w] = n_comp
            comp_size[n_comp]++
            comp_first[n_comp] = w
        } while (w != v)
    }
}

# The shortest path from s back to s inside its component, as "s -> a -> ... -> s"; the
# evidence of each step goes to steps[1..].
function cycle_of(s,    queue, head, tail, seen, from, list, n, i, v, w, path, k, rev) {
    head = 1
    tail = 0
    queue[++tail] = s
    while (head <= tail) {
        v = queue[head++]
        n = split(succ[v], list, " ")
        for (i = 1; i <= n; i++) {
            w = list[i]
            if (comp[w] != comp[s])
                continue
            if (w == s) {
                k = 0
                rev[++k] = s
                while (v != s) {
                    rev[++k] = v
                    v = from[v]
                }
                rev[++k] = s
                path = rev[k]
                n_steps = 0
                for (i = k - 1; i >= 1; i--) {
                    path = path " -> " rev[i]
                    steps[++n_steps] = evidence[rev[i + 1], rev[i]]
                }
                return path
            }
            if (!(w in seen)) {
                seen[w] = 1
                from[w] = v
                queue[++tail] = w
            }
        }
    }
    return s
}

BEGIN {
    generated["parser.h"] = 1     # made by bison from grammar/parser.y in the build folder
    generated["scanner.h"] = 1    # made by flex from grammar/scanner.l
    generated["onnx.pb-c.h"] = 1  # made by protoc-c from libonnx-dev's onnx.proto
}

FILENAME == layers {
    if ($0 ~ /^[ \t]*(#|$)/)
        next
    level[$2] = $1 + 0
    for (i = 3; i <= NF; i++) {
        prefix[++n_prefix] = $i
        prefix_layer[n_prefix] = $2
    }
    next
}

FILENAME == allow {
    if ($0 ~ /^[ \t]*(#|$)/)
        next
    if ($1 == "cycle") {
        n_allowed++
        allowed_text[n_allowed] = $0
        for (i = 2; i <= NF; i++)
            allowed[n_allowed, $i] = 1
    } else {
        printf "%s:%d: unknown allow-list line (expected: cycle UNIT UNIT...)\n", allow, FNR
        errors++
    }
    next
}

FILENAME == files {
    exists[$0] = 1
    add_node(unit_of($0))
    if (layer_of($0) == "") {
        printf "%s: belongs to no layer of tools/layers.txt\n", $0
        errors++
    }
    next
}

{
    file = $0
    sub(/:.*/, "", file)
    rest = substr($0, length(file) + 2)
    line = rest
    sub(/:.*/, "", line)
    if (!match(rest, /"[^"]*"/))
        next
    target = substr(rest, RSTART + 1, RLENGTH - 2)
    n_includes++
    if (target in generated)
        next
    if (!(target in exists)) {
        printf "%s:%s: #include \"%s\" names no file of the tree (includes are written from the repository root)\n", file, line, target
        errors++
        next
    }
    from_layer = layer_of(file)
    to_layer = layer_of(target)
    if (from_layer != "" && to_layer != "" && from_layer != to_layer &&
        level[to_layer] >= level[from_layer]) {
        printf "%s:%s: #include \"%s\": layer %s (%d) may include its own layer and the layers below it, not %s (%d)\n", file, line, target, from_layer, level[from_layer], to_layer, level[to_layer]
        errors++
    }
    u = unit_of(file)
    v = unit_of(target)
    if (u != v && !((u, v) in evidence)) {
        evidence[u, v] = file ":" line " includes " target
        succ[u] = succ[u] " " v
    }
}

END {
    for (i = 1; i <= n_node; i++)
        if (!(node[i] in order))
            strong(node[i])
    for (c = 1; c <= n_comp; c++) {
        if (comp_size[c] < 2)
            continue
        # the component's first unit in file order starts the reported cycle
        s = ""
        for (i = 1; i <= n_node; i++)
            if (comp[node[i]] == c) {
                s = node[i]
                break
            }
        ok = 0
        for (a = 1; a <= n_allowed && !ok; a++) {
            ok = 1
            for (i = 1; i <= n_node; i++)
                if (comp[node[i]] == c && !((a, node[i]) in allowed))
                    ok = 0
            if (ok)
                used[a] = 1
        }
        if (ok)
            continue
        printf "cycle: %s\n", cycle_of(s)
        for (i = 1; i <= n_steps; i++)
            printf "  %s\n", steps[i]
        errors++
    }
    for (a = 1; a <= n_allowed; a++)
        if (!(a in used))
            printf "note: %s: no longer needed: %s\n", allow, allowed_text[a]
    if (errors) {
        printf "layering: %d problem%s (rules: tools/layers.txt, docs/architecture.md)\n", errors, errors == 1 ? "" : "s"
        exit 1
    }
    printf "layering: %d files, %d includes, no forbidden include, no cycle\n", n_node_files(), n_includes
}

function n_node_files(    f, n) {
    n = 0
    for (f in exists)
        n++
    return n
}
