#!/bin/sh
# gen_script.sh: writes a .surgery script of N statements (default 10000) to stdout, mixing
# every kind of statement the check handles without a model file: parameters and arithmetic,
# option blocks inline and multi-line, data, fit, evaluate, expect, comments.
n=${1:-10000}
awk -v n="$n" 'BEGIN {
    print "# generated benchmark script"
    print "surgery 1"
    print "base \"model.yaml\""
    print "param hidden = 64"
    print "data train = csv(\"train.csv\") { label = 4  classes = 3  batch = 32  shuffle = true }"
    print "fine_tune {"
    print "  updater = nesterovs(learning_rate = 5e-5, momentum = 0.9)"
    print "  l2 = 1e-4"
    print "}"
    i = 6
    k = 0
    while (i < n) {
        r = k % 10
        if (r == 0) { printf "param p%d = %d * hidden + %d\n", k, (k % 7) + 1, k % 13; i++ }
        else if (r == 1) { printf "add dense \"d%d\" from \"d%d\" { n_out = p%d  activation = relu  dropout = 0.1 }  # layer %d\n", k, k - 1, k - 1, k; i++ }
        else if (r == 2) { printf "set \"d%d\" { learning_rate = 1e-3  l2 = 0 }\n", k - 1; i++ }
        else if (r == 3) { printf "add output \"o%d\" from \"d%d\" {\n  n_out = 3\n  activation = softmax\n  loss = mcxent\n}\n", k, k - 2; i++ }
        else if (r == 4) { printf "freeze \"d%d\", \"o%d\"\n", k - 3, k - 1; i++ }
        else if (r == 5) { printf "fit train epochs 1\n"; i++ }
        else if (r == 6) { printf "evaluate train\n"; i++ }
        else if (r == 7) { printf "expect accuracy(train) >= 0.%d\n", k % 9 + 1; i++ }
        else if (r == 8) { printf "\n# group %d\nunfreeze \"d%d\"\n", k, k - 7; i++ }
        else { printf "rename \"o%d\" to \"r%d\"\n", k - 6, k; i++ }
        k++
    }
    print "save \"out/model.yaml\""
}'
