// Boosted decision trees, the models of the relationship type and the churn risk: a sum of small trees (two or three
// splits deep) over named features, fitted by test/identity/relations/train.ts and shipped as constants in weights.ts. Each
// tree's nodes carry their own value, so a score splits exactly into what each feature added (the change of value
// at each split it decided, summed over the trees): the evidence names the features that moved a score most.

/** A leaf's value, or a split: [feature index, threshold (values below go left), the node's value, left, right]. */
export type Tree = number | readonly [number, number, number, Tree, Tree]

export interface BoostedModel {
  /** The feature names, in the order a tree's feature index refers to (features.ts defines each). */
  readonly features: ReadonlyArray<string>
  /** One score per class (a single class: the log-odds of a binary model). */
  readonly classes: ReadonlyArray<string>
  readonly bias: ReadonlyArray<number>
  /** The trees of each class, added up. */
  readonly trees: ReadonlyArray<ReadonlyArray<Tree>>
}

/**
 * The trees flattened into typed arrays (one node a slot; a leaf has no feature), built once per model: scoring
 * every profile walks these instead of nested arrays, which keeps a compute's scoring cost near the linear model's.
 */
interface Flat {
  readonly feature: Int32Array
  readonly threshold: Float64Array
  readonly value: Float64Array
  readonly left: Int32Array
  readonly right: Int32Array
  readonly roots: ReadonlyArray<Int32Array>
}

const flatCache = new WeakMap<BoostedModel, Flat>()

const flatten = (model: BoostedModel): Flat => {
  const cached = flatCache.get(model)
  if (cached !== undefined) return cached
  const feature: Array<number> = [], threshold: Array<number> = [], value: Array<number> = [], left: Array<number> = [], right: Array<number> = []
  const add = (t: Tree): number => {
    const at = feature.length
    feature.push(-1); threshold.push(0); value.push(typeof t === "number" ? t : t[2]); left.push(-1); right.push(-1)
    if (typeof t !== "number") {
      feature[at] = t[0]
      threshold[at] = t[1]
      left[at] = add(t[3])
      right[at] = add(t[4])
    }
    return at
  }
  const roots = model.trees.map((trees) => Int32Array.from(trees.map(add)))
  const flat: Flat = {
    feature: Int32Array.from(feature), threshold: Float64Array.from(threshold), value: Float64Array.from(value),
    left: Int32Array.from(left), right: Int32Array.from(right), roots,
  }
  flatCache.set(model, flat)
  return flat
}

/** Each class's score for the feature values `x` (in the model's feature order). */
export const boostedScores = (model: BoostedModel, x: ArrayLike<number>): Array<number> => {
  const { feature, threshold, value, left, right, roots } = flatten(model)
  return roots.map((trees, c) => {
    let z = model.bias[c]!
    for (let r = 0; r < trees.length; r++) {
      let n = trees[r]!
      while (feature[n]! >= 0) n = x[feature[n]!]! < threshold[n]! ? left[n]! : right[n]!
      z += value[n]!
    }
    return z
  })
}

/**
 * What each feature added to class `c`'s score for `x`: at every split on the path, the change from the node's value
 * to the value of the child taken goes to the split's feature. The roots' values and the bias are the base; base plus
 * the contributions is the score.
 */
export const contributions = (model: BoostedModel, c: number, x: ArrayLike<number>): { readonly base: number; readonly byFeature: Float64Array } => {
  const { feature, threshold, value, left, right, roots } = flatten(model)
  const byFeature = new Float64Array(model.features.length)
  let base = model.bias[c]!
  const trees = roots[c]!
  for (let r = 0; r < trees.length; r++) {
    let n = trees[r]!
    base += value[n]!
    while (feature[n]! >= 0) {
      const next = x[feature[n]!]! < threshold[n]! ? left[n]! : right[n]!
      byFeature[feature[n]!]! += value[next]! - value[n]!
      n = next
    }
  }
  return { base, byFeature }
}
