// The model API (stacks of recurrent layers, whole models, saving and loading, fit/predict/evaluate):
// re-exported by the library's index.
export {};
