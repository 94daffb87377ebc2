#!/bin/bash
# Usage: scripts/sens_compare.sh, after scripts/make_unseen.py and with the two
# binaries to compare at /tmp/mpq-base and /tmp/mpq (go build -o ... ./cmd/mpq).
# Runs mpq sensitivity on each unseen model with both and checks that every
# number agrees bit for bit; prints the Hutch++ phase times.
# sensitivity with the base and the new binary on every unseen model: identical traces?
mkdir -p "${OUT:-/tmp/sens}"
cd /tmp/mpq-unseen
for m in mobile vgg_bn_kept mlp_matmul lenet5_b1 mlp_gelu vgg_bn; do
  sed -e 's/max_samples: 60/max_samples: 12/' -e "s#sqlite://$m.db#sqlite://${OUT:-/tmp/sens}/cmp.db#" $m.yaml > /tmp/mpq-unseen/cmp_$m.yaml
  for b in base new; do
    rm -f ${OUT:-/tmp/sens}/cmp.db*
    bin=/tmp/mpq; [ $b = base ] && bin=/tmp/mpq-base
    /usr/bin/time -f "%e s %M KB" $bin sensitivity -c /tmp/mpq-unseen/cmp_$m.yaml --json > ${OUT:-/tmp/sens}/cmp_${m}_$b.json 2> ${OUT:-/tmp/sens}/cmp_${m}_$b.err
    echo "$m $b rc=$? $(tail -1 ${OUT:-/tmp/sens}/cmp_${m}_$b.err)"
  done
  python3 -c "
import json,sys
a=json.load(open('${OUT:-/tmp/sens}/cmp_${m}_base.json'));b=json.load(open('${OUT:-/tmp/sens}/cmp_${m}_new.json'))
ka=[(l['name'],l['hessian_trace'],l.get('top_eigenvalue'),l.get('fisher_trace'),l.get('activation_trace')) for l in a['layers']]
kb=[(l['name'],l['hessian_trace'],l.get('top_eigenvalue'),l.get('fisher_trace'),l.get('activation_trace')) for l in b['layers']]
print('$m identical' if ka==kb else '$m DIFFER', a['phase_seconds']['hutchinson'], b['phase_seconds']['hutchinson'])"
done
