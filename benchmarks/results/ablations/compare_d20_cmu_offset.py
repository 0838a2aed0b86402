"""Paired comparison of the c_mu-offset ablation at d = 20 with the default and pycma (README in this folder); run from the repository root."""
import json, numpy as np, collections
d=20
def auc(r):
    s=0
    for h in r['hits']:
        if h is None: continue
        e=np.log10(h/d)
        if e<=4: s+=(4-max(2,e))/2
    return s/51
a=json.load(open('benchmarks/results/bbob_d20_i1-5_s0-4_tr-cma.json'))
A={(r['fid'],r['iid'],r['seed']):r for r in a if r['solver']=='tr-cma-bipop'}
B={(r['fid'],r['iid'],r['seed']):r for r in json.load(open('benchmarks/results/ablations/bbob_d20_i1-5_s0-4_pycma-cmu-offset.json'))}
b=[]
for f in ['bbob_d20_i1-5_s0_cma-bipop.json','bbob_d20_i1-5_s1_cma-bipop.json','bbob_d20_i1-5_s2_cma-bipop.json','bbob_d20_i1-5_s3-4_cma-bipop.json']:
    b+=json.load(open('benchmarks/results/'+f))
P={(r['fid'],r['iid'],r['seed']):r for r in b if r['solver']=='cma-bipop'}
keys=sorted(B)
rng=np.random.default_rng(0)
def ci(x):
    x=np.array(x); bs=[np.mean(x[rng.integers(0,len(x),len(x))]) for _ in range(5000)]
    return f"{np.mean(x):+.4f} [{np.percentile(bs,2.5):+.4f}, {np.percentile(bs,97.5):+.4f}]"
print(len(keys), 'runs; seeds', sorted({k[2] for k in keys}))
print('cmu - default area', ci([auc(B[k])-auc(A[k]) for k in keys]), 'share', ci([(B[k]['reached']-A[k]['reached'])/51 for k in keys]))
print('cmu - pycma   area', ci([auc(B[k])-auc(P[k]) for k in keys]), 'share', ci([(B[k]['reached']-P[k]['reached'])/51 for k in keys]))
print('default - pycma area (same runs)', ci([auc(A[k])-auc(P[k]) for k in keys]))
per=collections.defaultdict(list)
for k in keys: per[k[0]].append(auc(B[k])-auc(A[k]))
print(' '.join(f"f{f}:{np.mean(per[f]):+.3f}" for f in sorted(per)))
